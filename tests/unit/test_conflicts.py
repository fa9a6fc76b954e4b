"""Unit tests of graphdrive.domain.conflicts: parsing ``@microsoft.graph.conflictBehavior``."""

from __future__ import annotations

import pytest

from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.exceptions import InvalidRequest


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fail", ConflictBehavior.FAIL),
        ("replace", ConflictBehavior.REPLACE),
        ("rename", ConflictBehavior.RENAME),
    ],
)
def test_each_value_parses(value: str, expected: ConflictBehavior) -> None:
    assert ConflictBehavior.parse(value, ConflictBehavior.FAIL) is expected


@pytest.mark.parametrize("value", ["RENAME", "Rename", "reNAME"])
def test_parsing_is_case_insensitive(value: str) -> None:
    assert ConflictBehavior.parse(value, ConflictBehavior.FAIL) is ConflictBehavior.RENAME


@pytest.mark.parametrize("default", list(ConflictBehavior))
def test_absent_gives_the_default(default: ConflictBehavior) -> None:
    assert ConflictBehavior.parse(None, default) is default


@pytest.mark.parametrize("default", list(ConflictBehavior))
def test_empty_string_gives_the_default(default: ConflictBehavior) -> None:
    # clients send "" for fields they don't use: treat it as absent
    assert ConflictBehavior.parse("", default) is default


@pytest.mark.parametrize("value", ["overwrite", "renam", "fail,rename", "0", "true"])
def test_unknown_values_are_an_invalid_request(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        ConflictBehavior.parse(value, ConflictBehavior.FAIL)
    assert (info.value.status, info.value.code) == (400, "invalidRequest")
    assert value in info.value.message


def test_values_are_the_wire_strings() -> None:
    assert [str(b) for b in ConflictBehavior] == ["fail", "replace", "rename"]
