"""Per-rule ``sample`` and ``rate_limit``: fewer events for high-volume rules.

``sample: 0.1`` keeps an event when the first 48 bits of its uuid, read as a
number, fall below 10% of 2**48. The uuid depends only on where the line sits and
on the rule, so a replay or a re-read after a crash keeps exactly the same lines:
sampling is deterministic, needs no state and no randomness.

``rate_limit: {events: N, per_seconds: S, key: template}`` is a token bucket per
rule (per rule and key value with ``key``): it holds N tokens, refills N per S
seconds *of event time* (the record's timestamp, so a replay decides the same
way), and an event that finds no token is dropped and counted by the caller.
Records whose key is missing share one bucket. The buckets live in a
``TokenBuckets`` owned by ``bridge.rules.state.RuleState``, never in the RuleSet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.model import Record
from bridge.rules.schema import Reporter, check_keys, expect_map
from bridge.rules.values.failures import settle
from bridge.rules.values.forms import ValueFn, ValueScope, compile_value
from bridge.rules.values.types import render_text
from bridge.yamlnodes import Node, Scalar, child_path, describe

__all__ = [
    "MAX_RATE_KEYS",
    "SAMPLE_BITS",
    "RateLimit",
    "TokenBuckets",
    "bucket_key",
    "compile_rate_limit",
    "compile_sample",
    "is_sampled_in",
    "sample_threshold",
]

# A UUIDv5's first 12 hex digits (48 bits) are hash output: version and variant
# bits come later (RFC 9562 §5.5), so these are evenly spread.
SAMPLE_BITS = 48
# Keys seen per rule before idle buckets are forgotten: bounds memory when the key
# is, say, a user id; a forgotten bucket comes back full, the lenient choice.
MAX_RATE_KEYS = 10_000

_RATE_KEYS = ("events", "key", "per_seconds")


def is_sampled_in(uuid: str, threshold: int) -> bool:
    """Whether the event with this uuid is kept by a sample of threshold/2**48."""
    return int(uuid[:8] + uuid[9:13], 16) < threshold


def sample_threshold(rate: float) -> int:
    """The ``is_sampled_in`` threshold that keeps a share ``rate`` of uuids."""
    return int(rate * 2**SAMPLE_BITS)


def compile_sample(rep: Reporter, node: Node, path: str) -> tuple[bool, float | None]:
    """
    Read ``sample:`` (a rate in (0, 1]).

    Returns:
        Whether it is valid, and the rate (None when every event is kept).
    """
    rate = node.value if isinstance(node, Scalar) else None
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1:
        message = f"expected a rate above 0 and at most 1, got {describe(node)}"
        rep.error(node, path, message, "hint: 0.1 keeps one event in ten")
        return False, None
    if rate == 1:
        return True, None
    return True, float(rate)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A compiled ``rate_limit``: bucket size, refill period, optional key."""

    events: int
    per_seconds: float
    key: ValueFn | None = field(default=None, repr=False, compare=False)


def compile_rate_limit(
    rep: Reporter, node: Node, path: str, scope: ValueScope
) -> RateLimit | None:
    """Compile a ``rate_limit`` mapping; None after reporting what is wrong."""
    mapping = expect_map(rep, node, path)
    if mapping is None:
        return None
    required = ("events", "per_seconds")
    ok = check_keys(rep, mapping, path, _RATE_KEYS, required=required)
    events = _positive(rep, mapping.get("events"), child_path(path, "events"), int)
    per_seconds = _positive(
        rep, mapping.get("per_seconds"), child_path(path, "per_seconds"), float
    )
    key: ValueFn | None = None
    key_node = mapping.get("key")
    if key_node is not None:
        key = compile_value(rep, key_node, child_path(path, "key"), scope)
        ok = ok and key is not None
    if not ok or events is None or per_seconds is None:
        return None
    return RateLimit(int(events), float(per_seconds), key)


def _positive(
    rep: Reporter, node: Node | None, path: str, kind: type[int] | type[float]
) -> int | float | None:
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    kinds = int if kind is int else int | float
    if isinstance(value, kinds) and not isinstance(value, bool) and value > 0:
        return value
    what = "a positive integer" if kind is int else "a positive number"
    rep.error(node, path, f"expected {what}, got {describe(node)}")
    return None


class TokenBuckets:
    """The token buckets of one rate-limited rule; mutable, owned by a RuleState."""

    __slots__ = ("_buckets", "capacity", "per_second")

    def __init__(self, limit: RateLimit) -> None:
        self.capacity = float(limit.events)
        self.per_second = limit.events / limit.per_seconds
        # key → (tokens left, event time of the last refill, in epoch seconds)
        self._buckets: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, key: str, at: float) -> bool:
        """Take a token from ``key``'s bucket at event time ``at``, if one is left."""
        entry = self._buckets.get(key)
        tokens = self.capacity
        if entry is not None:
            tokens, last = entry
            # Lines a little out of order refill nothing and rewind nothing.
            at = max(at, last)
            tokens = min(self.capacity, tokens + (at - last) * self.per_second)
        admitted = tokens >= 1
        self._buckets[key] = (tokens - 1 if admitted else tokens, at)
        if len(self._buckets) > MAX_RATE_KEYS:
            self._forget(at)
        return admitted

    def _forget(self, now: float) -> None:
        """Drop buckets that are full again, then the oldest, down to half the cap."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.per_second >= self.capacity:
                del self._buckets[key]
        excess = len(self._buckets) - MAX_RATE_KEYS // 2
        for key in list(self._buckets)[: max(excess, 0)]:
            del self._buckets[key]


def bucket_key(limit: RateLimit, record: Record) -> str:
    """The bucket a record falls in: its key value as text ('' when missing)."""
    if limit.key is None:
        return ""
    text = render_text(settle(limit.key(record), None))
    return text if isinstance(text, str) else ""
