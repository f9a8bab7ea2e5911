"""Which distinct_ids make a person, and what a rule does with those that cannot.

PostHog stores an event under the person its ``distinct_id`` names. Some ids cannot
name a person (reference/posthog-capture.md §8, §9):

- ``missing``: the value is absent or null (a template's field included);
- ``blank``: empty or only white space (capture refuses ``""`` outright);
- ``placeholder``: a word a program writes when it has no id: ``null``,
  ``undefined``, ``None``, ``NaN``, ``0``, ``anonymous``, ``guest``, ``true``,
  ``false``, quoted forms too. PostHog's ingestion refuses to merge such ids, so
  each becomes one giant person of every line that wrote it; its SDK spec says a
  server SDK must not send them as persons;
- ``too_long``: over 200 characters: capture keeps the first 200, so users whose
  ids share a long prefix would become one.

What happens then (``invalid_id``, per rule):

- ``personless``: the event goes without a person (``$process_person_profile:
  false``, distinct_id = the event's uuid);
- ``skip``: no event;
- ``hash``: the id becomes ``sha256:`` and the 64 hex digits of its SHA-256, a
  stable id of 71 characters (for a too long id; a missing one cannot be hashed and
  goes personless).

The default: ``hash`` for a too long id, ``personless`` for the others; ``skip`` for
the others when the rule needs a person (``person_profiles: always``, identity
events). Every case is counted per rule (``distinct_id: placeholder``, ...).

``person_profiles`` (PostHog's SDKs' names): ``identified_only`` (default) makes a
person of every event with a valid id; ``always`` too, and an event without one is
skipped unless ``invalid_id`` says otherwise; ``never`` sends every event
personless, keeping its valid distinct_id.

Invariants: pure; nothing raises; the id sent is always a non-empty string of at most
200 characters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from bridge.rules.fieldpaths import MISSING
from bridge.rules.values.failures import Failed
from bridge.rules.values.types import render_text

__all__ = [
    "INVALID_ID_CHOICES",
    "MAX_DISTINCT_ID_CHARS",
    "PERSON_PROFILES_CHOICES",
    "IdPolicy",
    "InvalidId",
    "PersonProfiles",
    "id_problem",
]

# Capture cuts distinct_id to its first 200 characters (reference §9).
MAX_DISTINCT_ID_CHARS = 200

InvalidId = Literal["personless", "skip", "hash"]
INVALID_ID_CHOICES: tuple[InvalidId, ...] = ("personless", "skip", "hash")
PersonProfiles = Literal["identified_only", "always", "never"]
PERSON_PROFILES_CHOICES: tuple[PersonProfiles, ...] = (
    "identified_only",
    "always",
    "never",
)

# Ingestion refuses to merge these (nodejs person-utils.ts, reference §8): any casing
# of the first set, the exact spelling of the second, and both inside quotes.
_PLACEHOLDERS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_PLACEHOLDERS_EXACT = frozenset(
    {"[object Object]", "NaN", "None", "none", "null", "0", "undefined"}
)
_QUOTES = "\"'"


def id_problem(text: str) -> str | None:
    """Why a distinct_id cannot name a person, or None when it can."""
    stripped = text.strip()
    if not stripped:
        return "blank"
    if len(text) > MAX_DISTINCT_ID_CHARS:
        return "too_long"
    for candidate in (stripped, _unquoted(stripped)):
        if (
            candidate in _PLACEHOLDERS_EXACT
            or candidate.lower() in _PLACEHOLDERS_ANY_CASE
        ):
            return "placeholder"
    return None


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return text[1:-1]
    return text


def _hashed(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class IdPolicy:
    """A rule's ``person_profiles`` and ``invalid_id`` (None: the defaults)."""

    profiles: PersonProfiles = "identified_only"
    invalid: InvalidId | None = None
    # The rule makes an identity event: it cannot be sent without a person.
    needs_person: bool = False

    def settle(
        self, value: Any, failed: list[Failed], counted: bool = False
    ) -> tuple[str | None, bool]:
        """
        The distinct_id to send (None: the event's uuid) and whether the event goes
        personless; an id that cannot name a person is added to ``failed`` (with
        ``skip`` when the event must not be sent). ``counted``: the value failed
        already and was counted so; its absence is not counted again.
        """
        text = _text(value)
        problem = "missing" if text is None else id_problem(text)
        if problem is None:
            return text, self.profiles == "never"
        choice = self._choice(problem)
        skip = choice == "skip"
        if skip or not (counted and problem == "missing"):
            failed.append(Failed(problem, MISSING, skip=skip, where="distinct_id"))
        if choice == "hash" and text is not None and text.strip():
            return _hashed(text), self.profiles == "never"
        return None, True

    def _choice(self, problem: str) -> InvalidId:
        if self.invalid is not None:
            return self.invalid
        if self.needs_person or self.profiles == "always":
            return "hash" if problem == "too_long" else "skip"
        return "hash" if problem == "too_long" else "personless"


def _text(value: Any) -> str | None:
    """A distinct_id's text (JSON for non-strings); None for missing and null."""
    if value is MISSING or value is None:
        return None
    if type(value) is str:
        return value
    text = render_text(value)
    return text if isinstance(text, str) else None
