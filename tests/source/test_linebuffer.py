from hypothesis import given
from hypothesis import strategies as st

from bridge.source.linebuffer import Cut, LineBuffer, _lines_fit


def _feed_all(pieces: list[bytes], max_line_bytes: int, offset: int = 0):
    buffer = LineBuffer(offset, max_line_bytes=max_line_bytes)
    lines: list[tuple[int, bytes]] = []
    too_long = 0
    for piece in pieces:
        cut = buffer.feed(piece)
        lines.extend(cut.lines)
        too_long += cut.too_long
    return lines, too_long, buffer.consumed, buffer.position


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def test_complete_lines_come_out_with_their_offsets_and_the_rest_waits():
    buffer = LineBuffer(100, max_line_bytes=1000)

    cut = buffer.feed(b"one\r\ntwo\nthr")

    assert cut == Cut(((100, b"one"), (105, b"two")), 0)
    assert (buffer.consumed, buffer.position) == (109, 112)


def test_a_partial_line_is_completed_by_the_next_chunk():
    buffer = LineBuffer(0, max_line_bytes=1000)
    buffer.feed(b"a\npar")

    cut = buffer.feed(b"tial\n")

    assert cut == Cut(((2, b"partial"),), 0)
    assert buffer.consumed == 10


def test_an_over_long_line_is_skipped_counted_and_never_buffered():
    buffer = LineBuffer(0, max_line_bytes=4)

    first = buffer.feed(b"ok\n" + b"x" * 10)
    second = buffer.feed(b"y" * 10)
    third = buffer.feed(b"z\nfine\n")

    assert first == Cut(((0, b"ok"),), 0)
    assert second == Cut((), 0)
    assert third == Cut(((25, b"fine"),), 1)
    assert buffer.consumed == 30


def test_an_over_long_line_inside_one_chunk_is_skipped_and_counted():
    buffer = LineBuffer(0, max_line_bytes=4)

    cut = buffer.feed(b"ok\nxxxxxxx\nfine\n")

    assert cut == Cut(((0, b"ok"), (11, b"fine")), 1)


def test_a_line_of_exactly_max_line_bytes_is_kept():
    buffer = LineBuffer(0, max_line_bytes=4)

    cut = buffer.feed(b"abcd\n")

    assert cut == Cut(((0, b"abcd"),), 0)


def test_starting_in_skip_mode_drops_the_rest_of_the_current_line():
    buffer = LineBuffer(50, max_line_bytes=4, skipping=True)

    cut = buffer.feed(b"tail of a long line\nnext\n")

    assert cut == Cut(((70, b"next"),), 1)


def test_nul_bytes_pass_through():
    buffer = LineBuffer(0, max_line_bytes=100)

    cut = buffer.feed(b"a\x00b\n")

    assert cut.lines == ((0, b"a\x00b"),)


_LINES = st.lists(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12
)


@given(
    lines=_LINES,
    tail=st.binary(max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=20),
    max_line_bytes=st.integers(min_value=1, max_value=10),
    crlf=st.booleans(),
)
def test_the_same_lines_come_out_however_the_bytes_are_split(
    lines, tail, cuts, max_line_bytes, crlf
):
    end = b"\r\n" if crlf else b"\n"
    data = b"".join(line + end for line in lines) + tail

    whole = _feed_all([data], max_line_bytes, offset=7)
    byte_by_byte = _feed_all(
        [data[i : i + 1] for i in range(len(data))], max_line_bytes, offset=7
    )
    random_split = _feed_all(_split(data, cuts), max_line_bytes, offset=7)

    assert byte_by_byte == whole
    assert random_split == whole


@given(lines=_LINES, max_line_bytes=st.integers(min_value=1, max_value=10))
def test_lines_are_the_input_lines_that_fit(lines, max_line_bytes):
    data = b"".join(line + b"\n" for line in lines)

    got, too_long, consumed, _ = _feed_all([data], max_line_bytes)

    kept = [x for x in lines if len(x) <= max_line_bytes]
    assert [line for _, line in got] == [x.removesuffix(b"\r") for x in kept]
    assert too_long == sum(1 for x in lines if len(x) > max_line_bytes)
    assert consumed == len(data)
    assert all(data[o : o + len(line)] == line for o, line in got)


@given(lines=_LINES, max_line_bytes=st.integers(min_value=1, max_value=10))
def test_the_block_check_agrees_with_measuring_every_line(lines, max_line_bytes):
    data = b"".join(line + b"\n" for line in lines) + b"rest"
    end = data.rfind(b"\n") + 1

    fits = _lines_fit(data, end, max_line_bytes)

    assert fits == all(len(x) <= max_line_bytes for x in lines)
