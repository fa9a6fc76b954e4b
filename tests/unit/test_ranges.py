"""Unit tests of graphdrive.domain.ranges: single byte ranges for downloads (RFC 9110 §14)."""

from __future__ import annotations

import pytest

from graphdrive.domain.ranges import parse_range
from graphdrive.exceptions import InvalidRange


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=10-19", 100, (10, 20)),
        ("bytes=0-0", 100, (0, 1)),
        ("bytes=99-99", 100, (99, 100)),
        ("bytes=5-", 100, (5, 100)),
        ("bytes=0-", 100, (0, 100)),
        ("bytes=-3", 100, (97, 100)),
        ("bytes=-100", 100, (0, 100)),
        ("BYTES=0-9", 100, (0, 10)),
        ("bytes= 0-9 ", 100, (0, 10)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-999", 100, (0, 100)),  # last-pos past the end
        ("bytes=90-200", 100, (90, 100)),
        ("bytes=-500", 100, (0, 100)),  # suffix longer than the file
    ],
)
def test_ranges_beyond_the_end_are_clipped(
    header: str, size: int, expected: tuple[int, int]
) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=100-199", "bytes=100-100", "bytes=150-160"])
def test_start_at_or_past_the_end_is_416_with_content_range(header: str) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, 100)
    assert (info.value.status, info.value.code) == (416, "invalidRange")
    assert info.value.headers == {"Content-Range": "bytes */100"}


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=150-", 100)])
def test_open_ended_range_past_the_end_is_416(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, size)
    assert info.value.headers == {"Content-Range": f"bytes */{size}"}


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_means_the_whole_file(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=0-9, 20-", "bytes=-3,0-1"])
def test_several_ranges_are_ignored(header: str) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    "header",
    [
        "0-9",  # no unit
        "items=0-9",  # unknown unit
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=a-b",
        "bytes=1-x",
        "bytes=9-5",  # last-pos before first-pos: invalid, so ignored
        "bytes=0--1",
        "garbage",
    ],
)
def test_garbage_is_ignored(header: str) -> None:
    assert parse_range(header, 100) is None


# --- zero-size files ------------------------------------------------------------------------


def test_zero_size_file_without_range_is_sent_whole() -> None:
    assert parse_range(None, 0) is None


def test_zero_size_file_closed_range_is_416() -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range("bytes=0-9", 0)
    assert info.value.headers == {"Content-Range": "bytes */0"}


def test_zero_size_file_open_ended_range_is_416() -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range("bytes=0-", 0)
    assert info.value.headers == {"Content-Range": "bytes */0"}


@pytest.mark.parametrize(("header", "size"), [("bytes=-3", 0), ("bytes=-0", 100)])
def test_unsatisfiable_suffix_ranges_are_416(header: str, size: int) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, size)


@pytest.mark.parametrize(("header", "size"), [("bytes=-3", 0), ("bytes=-0", 100)])
def test_unsatisfiable_suffix_ranges_carry_content_range(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, size)
    assert info.value.headers == {"Content-Range": f"bytes */{size}"}
