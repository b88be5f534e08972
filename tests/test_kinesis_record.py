"""The stream's record contract: lines packed into records within the bound, and read back."""

from __future__ import annotations

import random

import pytest

from miniticker.kinesis_record import MAX_RECORD_BYTES, lines_of, pack_lines, record_ends


def test_records_hold_whole_lines_within_the_bound():
    rng = random.Random(7)
    lines = [b"x" * rng.randrange(1, 900) + b"\n" for _ in range(5_000)]
    records = pack_lines(lines)
    assert all(len(r) <= MAX_RECORD_BYTES for r in records)
    assert b"".join(records) == b"".join(lines)  # in order, nothing lost or doubled
    # A line is never split: every record ends where a line ends.
    assert [line for r in records for line in lines_of(r)] == [line[:-1] for line in lines]
    # Greedy: no record could have taken its successor's first line.
    for record, following in zip(records, records[1:]):
        assert len(record) + len(lines_of(following)[0]) + 1 > MAX_RECORD_BYTES


def test_a_line_longer_than_the_bound_travels_alone():
    lines = [b"a\n", b"b" * 30 + b"\n", b"c\n", b"d\n"]
    assert pack_lines(lines, limit=10) == [b"a\n", b"b" * 30 + b"\n", b"c\nd\n"]
    assert record_ends([], 10) == []
    with pytest.raises(ValueError, match="holds no line"):
        record_ends([1], 0)


def test_lines_of_a_record():
    assert lines_of(b'{"a":1}\n{"b":2}\n') == [b'{"a":1}', b'{"b":2}']
    assert lines_of(b'{"a":1}\n{"b":2}') == [b'{"a":1}', b'{"b":2}']  # unterminated last line
    assert lines_of(b'{"a":1}\n\n{"b":2}\n') == [b'{"a":1}', b"", b'{"b":2}']  # seen, rejected
    assert lines_of(b"") == []
