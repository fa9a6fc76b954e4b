"""Unit tests of children paging and If-Match in graphdrive.service.items."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from graphdrive.domain.items import Item
from graphdrive.exceptions import InvalidRequest, PreconditionFailed
from graphdrive.service.items import (
    _decode_token,
    _encode_token,
    check_if_match,
    parse_orderby,
)

ORDERS = ["name", "size", "lastModifiedDateTime"]
MODIFIED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
ITEM = Item(
    id="ITEMID42",
    drive_id="DRIVE1",
    parent_id="PARENT1",
    name="Straße Report.TXT",
    is_folder=False,
    size=12345,
    blob_key=None,
    mime_type="text/plain",
    sha1=None,
    version=3,
    content_version=2,
    created_at=MODIFIED,
    modified_at=MODIFIED,
    created_by_id="u1",
    created_by_name="User One",
    modified_by_id="u1",
    modified_by_name="User One",
)


def forge(*parts: object) -> str:
    """A token built by hand, as a client tampering with ``$skiptoken`` could."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


# --- $orderby ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_orderby_defaults_to_name_ascending(value: str | None) -> None:
    assert parse_orderby(value) == ("name", False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("name", ("name", False)),
        ("name asc", ("name", False)),
        ("name desc", ("name", True)),
        ("size", ("size", False)),
        ("size DESC", ("size", True)),
        ("lastModifiedDateTime desc", ("lastModifiedDateTime", True)),
        ("lastModifiedDateTime Asc", ("lastModifiedDateTime", False)),
        ("  size   desc  ", ("size", True)),
    ],
)
def test_orderby(value: str, expected: tuple[str, bool]) -> None:
    assert parse_orderby(value) == expected


@pytest.mark.parametrize("value", ["createdDateTime", "id desc", "name sideways", "size asc desc"])
def test_unsupported_orderby_is_an_invalid_request(value: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_orderby(value)


# --- $skiptoken -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "value"),
    [("name", "straße report.txt".casefold()), ("size", 12345), ("lastModifiedDateTime", MODIFIED)],
)
@pytest.mark.parametrize("desc", [False, True])
def test_token_round_trip(order: str, desc: bool, value: object) -> None:
    token = _encode_token(order, desc, ITEM)
    assert _decode_token(token, order, desc) == (value, ITEM.id)


@pytest.mark.parametrize("order", ORDERS)
def test_token_is_url_safe(order: str) -> None:
    token = _encode_token(order, False, replace(ITEM, name="?>?>?>~~~ÿÿÿ"))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(("order", "other"), [(a, b) for a in ORDERS for b in ORDERS if a != b])
def test_token_from_another_order_field_is_rejected(order: str, other: str) -> None:
    token = _encode_token(order, False, ITEM)
    with pytest.raises(InvalidRequest):
        _decode_token(token, other, False)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("desc", [False, True])
def test_token_from_the_other_direction_is_rejected(order: str, desc: bool) -> None:
    token = _encode_token(order, desc, ITEM)
    with pytest.raises(InvalidRequest):
        _decode_token(token, order, not desc)


@pytest.mark.parametrize(
    ("token", "order"),
    [
        ("", "name"),
        ("not a token", "name"),
        ("!!!!", "name"),
        ("AAAA", "name"),
        (base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), "name"),  # not UTF-8
        (forge(), "name"),  # too short
        (forge("name", False, "x"), "name"),
        (forge("name", False, "x", "id", "extra"), "name"),
        (forge("name", False, "x", 42), "name"),  # id not a string
        (base64.urlsafe_b64encode(b"42").decode(), "name"),  # not a list
        (base64.urlsafe_b64encode(b'"abcd"').decode(), "name"),  # a 4-char string unpacks
        (forge("lastModifiedDateTime", False, "yesterday", "id"), "lastModifiedDateTime"),
        (forge("lastModifiedDateTime", False, None, "id"), "lastModifiedDateTime"),
    ],
)
def test_garbage_token_is_an_invalid_request(token: str, order: str) -> None:
    with pytest.raises(InvalidRequest, match=r"\$skiptoken"):
        _decode_token(token, order, False)


@pytest.mark.parametrize(
    ("order", "value"),
    [("name", ["x"]), ("name", {"a": 1}), ("size", "big"), ("size", [1]), ("name", 7)],
)
def test_token_with_a_wrongly_typed_value_is_rejected(order: str, value: object) -> None:
    with pytest.raises(InvalidRequest):
        _decode_token(forge(order, False, value, "ITEMID42"), order, False)


# --- If-Match ---------------------------------------------------------------------------------


def test_no_if_match_passes() -> None:
    check_if_match(ITEM, None)


@pytest.mark.parametrize("header", ["*", " * "])
def test_star_matches_anything(header: str) -> None:
    check_if_match(ITEM, header)


def test_etag_and_ctag_contain_the_id_and_versions() -> None:
    # OneDrive's shape: "{ID},version" - note the comma inside the quoted tag
    assert ITEM.etag == '"{ITEMID42},3"'
    assert ITEM.ctag == '"c:{ITEMID42},2"'


# Regression guard: If-Match used to be split on ",", which cuts every tag in two.
@pytest.mark.parametrize("tag", ["etag", "ctag"])
def test_current_tag_matches(tag: str) -> None:
    check_if_match(ITEM, getattr(ITEM, tag))


def test_current_etag_in_a_list_matches() -> None:
    check_if_match(ITEM, f'"{{OTHER}},1", {ITEM.etag}')


@pytest.mark.parametrize(
    "header",
    [
        '"{ITEMID42},2"',  # stale version
        '"c:{ITEMID42},1"',  # stale content version
        '"{OTHERID},3"',
        '"not-the-etag"',
    ],
)
def test_mismatch_is_precondition_failed(header: str) -> None:
    with pytest.raises(PreconditionFailed) as info:
        check_if_match(ITEM, header)
    assert (info.value.status, info.value.code) == (412, "resourceModified")
