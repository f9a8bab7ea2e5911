"""The event uuid is the standard UUIDv5 of the line's origin."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from bridge.model import EVENT_NAMESPACE, event_uuid


@given(st.text(), st.text(), st.integers(min_value=0, max_value=2**63), st.text())
def test_event_uuid_is_uuid5_of_the_origin(
    source: str, file_id: str, offset: int, rule: str
) -> None:
    expected = uuid.uuid5(EVENT_NAMESPACE, f"{source}\n{file_id}\n{offset}\n{rule}")

    assert event_uuid(source, file_id, offset, rule) == str(expected)
