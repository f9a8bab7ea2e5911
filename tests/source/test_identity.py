import pytest

from bridge.source.identity import fingerprint_of, generation_of, next_file_id

FP = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (set(), FP),
        ({FP}, f"{FP}-8-42"),
        ({FP, f"{FP}-8-42"}, f"{FP}-8-42-2"),
        ({FP, f"{FP}-8-42", f"{FP}-8-42-2"}, f"{FP}-8-42-3"),
        ({f"{FP}-8-42"}, FP),
    ],
    ids=["first", "second-file", "truncated-once", "truncated-twice", "first-free"],
)
def test_next_file_id_is_the_first_free_id_of_the_sequence(used, expected):
    assert next_file_id(FP, 8, 42, used) == expected


@pytest.mark.parametrize(
    ("file_id", "generation"),
    [(FP, 0), (f"{FP}-8-42", 1), (f"{FP}-8-42-2", 2), (f"{FP}-8-42-17", 17)],
    ids=["plain", "tie-break", "second-truncation", "many"],
)
def test_generation_orders_the_ids_of_one_inode(file_id, generation):
    assert generation_of(file_id) == generation
    assert fingerprint_of(file_id) == FP
