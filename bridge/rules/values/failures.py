"""What a value gives when it cannot be computed, and what the rule then does.

A value function returns the value, ``MISSING`` (its field is absent: the property is
left out), or a ``Failed``: a conversion that did not work, a step that could not
apply, a required value that was absent. A ``Failed`` says why (``reason``, a short
fixed word fit for a metric label) and carries the author's choice (``on_error``)
already resolved: the value to send instead (``fallback``, which may be ``MISSING``)
or ``skip`` the event. The caller counts every ``Failed`` it meets, per rule and
reason (``Issue``), so that no value ever fails silently.

``NO_MATCH`` is what a step gives when it finds nothing (an ``extract`` whose pattern
does not match, a ``split`` index past the end): later steps and the type pass it
on, and at the end it becomes the ``default``, or null (a failure ``no_match`` when
the value is ``required``).

Invariants: pure values, never raised; a ``Failed`` is built only when something
failed, so the common path allocates nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple

from bridge.model import Record
from bridge.rules.fieldpaths import MISSING

__all__ = [
    "NO_MATCH",
    "ON_ERROR_CHOICES",
    "Failed",
    "Issue",
    "NoMatch",
    "OnError",
    "TraceFn",
    "failure",
    "settle",
]

# What a rule does with a value that failed: send the ``default`` (when it has one),
# leave the property out, send null, or send no event for the line.
OnError = Literal["default", "drop", "null", "skip"]
ON_ERROR_CHOICES: tuple[OnError, ...] = ("default", "drop", "null", "skip")
# For ``explain``: a value's stages for one record, as (stage, value after it).
TraceFn = Callable[[Record], list[tuple[str, Any]]]


class NoMatch(enum.Enum):
    """The type of ``NO_MATCH``: a step found nothing in its value."""

    NO_MATCH = "NO_MATCH"


NO_MATCH: Final = NoMatch.NO_MATCH


class Failed:
    """A value that could not be computed; see the module docstring."""

    __slots__ = ("detail", "fallback", "reason", "skip", "where")

    def __init__(
        self,
        reason: str,
        fallback: Any,
        *,
        skip: bool = False,
        detail: str = "",
        where: str = "",
    ) -> None:
        self.reason = reason
        self.fallback = fallback
        self.skip = skip
        self.detail = detail
        # Where the value sits in its rule ("properties.amount"), set by forms.
        self.where = where

    def __repr__(self) -> str:
        return f"Failed({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failed):
            return NotImplemented
        return (self.reason, self.skip) == (other.reason, other.skip) and (
            self.fallback is other.fallback or self.fallback == other.fallback
        )

    __hash__ = None  # type: ignore[assignment]


class Issue(NamedTuple):
    """One failed value met while building an event: which rule, where, why."""

    rule: str
    where: str  # "property amount", "distinct_id", "timestamp", "set.plan", ...
    reason: str
    detail: str = ""

    @property
    def label(self) -> str:
        """What counters are keyed by besides the rule: ``where: reason``."""
        return f"{self.where}: {self.reason}"


def failure(
    reason: str,
    on_error: OnError,
    default: Any,
    *,
    has_default: bool,
    where: str = "",
    detail: str = "",
) -> Failed:
    """A ``Failed`` with the author's ``on_error`` choice resolved."""
    if on_error == "skip":
        return Failed(reason, MISSING, skip=True, detail=detail, where=where)
    if on_error == "null":
        return Failed(reason, None, detail=detail, where=where)
    if on_error == "default" and has_default:
        return Failed(reason, default, detail=detail, where=where)
    return Failed(reason, MISSING, detail=detail, where=where)


def settle(value: Any, failed: list[Failed] | None) -> Any:
    """The value to use: a ``Failed``'s fallback (noted in ``failed``), else itself."""
    if type(value) is Failed:
        if failed is not None:
            failed.append(value)
        return value.fallback
    return value
