"""Which bytes a browser's or download tool's Range request gets (recordings.range_header)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recordings.range_header import Part, Unsatisfiable, Whole, choose, range_still_valid, select

SIZE = 1000
ETAG = '"r-0123456789abcdef"'
MODIFIED = datetime(2026, 12, 3, 9, 30, 15, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-", Part(0, 999)),  # what a media element sends first
        ("bytes=0-99", Part(0, 99)),
        ("bytes=500-599", Part(500, 599)),  # a seek into the middle
        ("bytes=900-", Part(900, 999)),  # open-ended
        ("bytes=-100", Part(900, 999)),  # suffix: the last 100 bytes
        ("bytes=-5000", Part(0, 999)),  # a suffix longer than the file is all of it
        ("bytes=990-5000", Part(990, 999)),  # an end past the file ends at its last byte
        ("bytes=999-999", Part(999, 999)),
        ("BYTES=1-2", Part(1, 2)),
        ("bytes= 3-4 ", Part(3, 4)),
    ],
)
def test_one_range_is_part_of_the_file(header: str, expected: Part) -> None:
    assert select(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",  # starts at the end
        "bytes=5000-6000",
        "bytes=9-3",  # backwards
        "bytes=-0",  # the last zero bytes
        "bytes=-",
        "bytes=",
        "bytes",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=0x10-",
        "bytes=١-٢",  # digits, but not ASCII ones
        "bytes=" + "9" * 30 + "-",
        "bytes=0-1,,5-6",
        "bytes=0-1,x",
    ],
)
def test_unsatisfiable_or_malformed_ranges_are_416(header: str) -> None:
    assert select(header, SIZE) == Unsatisfiable()
    assert Unsatisfiable.content_range(SIZE) == "bytes */1000"


def test_nothing_in_an_empty_file_can_be_asked_for() -> None:
    assert select("bytes=0-", 0) == Unsatisfiable()
    assert select("bytes=-10", 0) == Unsatisfiable()
    assert select(None, 0) == Whole()


@pytest.mark.parametrize("header", [None, "items=0-5", "pages=1-2", "bytes=0-99,200-299", "bytes=0-1, 5-"])
def test_no_range_other_units_and_several_ranges_get_the_whole_file(header: str | None) -> None:
    assert select(header, SIZE) == Whole()


def test_content_range_names_the_part_and_the_size() -> None:
    part = select("bytes=500-599", SIZE)
    assert isinstance(part, Part)
    assert (part.content_range(SIZE), part.length) == ("bytes 500-599/1000", 100)


def test_if_range_with_the_current_etag_or_date_keeps_the_range() -> None:
    assert range_still_valid(None, etag=ETAG, last_modified=MODIFIED)
    assert range_still_valid(ETAG, etag=ETAG, last_modified=MODIFIED)
    assert range_still_valid("Thu, 03 Dec 2026 09:30:15 GMT", etag=ETAG, last_modified=MODIFIED)
    chosen = choose("bytes=10-19", ETAG, size=SIZE, etag=ETAG, last_modified=MODIFIED)
    assert chosen == Part(10, 19)


@pytest.mark.parametrize(
    "if_range",
    [
        '"r-somethingelse"',
        "W/" + ETAG,  # weak validators never match If-Range
        "Thu, 03 Dec 2026 09:30:14 GMT",  # a second off
        "Thu, 03 Dec 2026 09:30:16 GMT",  # later is not "the same" either
        "yesterday",
        "",
    ],
)
def test_if_range_naming_another_version_gets_the_whole_file(if_range: str) -> None:
    assert not range_still_valid(if_range, etag=ETAG, last_modified=MODIFIED)
    assert choose("bytes=10-19", if_range, size=SIZE, etag=ETAG, last_modified=MODIFIED) == Whole()


def test_if_range_without_range_is_the_whole_file() -> None:
    assert choose(None, ETAG, size=SIZE, etag=ETAG, last_modified=MODIFIED) == Whole()
