"""Unit tests of graphdrive.api.addressing.normalise: every Graph addressing form, one shape."""

from __future__ import annotations

import pytest

from graphdrive.api.addressing import normalise

ME = "/v1.0/me/drive"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1.0/me/drive/root", f"{ME}/items/root"),
        ("/v1.0/me/drive/root/children", f"{ME}/items/root/children"),
        ("/v1.0/me/drive/root/content", f"{ME}/items/root/content"),
        ("/v1.0/me/drive/items/ABC123", f"{ME}/items/ABC123"),
        ("/v1.0/me/drive/items/ABC123/children", f"{ME}/items/ABC123/children"),
        ("/v1.0/me/drive/items/ABC123/copy", f"{ME}/items/ABC123/copy"),
        ("/v1.0/me/drive/items/root", f"{ME}/items/root"),
        ("/v1.0/drives/D1/root", "/v1.0/drives/D1/items/root"),
        ("/v1.0/drives/D1/items/ABC123/content", "/v1.0/drives/D1/items/ABC123/content"),
        ("/v1.0/me/drive", ME),
        ("/v1.0/drives/D1", "/v1.0/drives/D1"),
    ],
)
def test_id_and_root_addressing(path: str, route: str) -> None:
    assert normalise(path) == (route, None)


@pytest.mark.parametrize(
    ("path", "route", "segments"),
    [
        ("/v1.0/me/drive/root:/a/b", f"{ME}/items/root", ("a", "b")),
        ("/v1.0/me/drive/root:/a/b:", f"{ME}/items/root", ("a", "b")),
        ("/v1.0/me/drive/root:/a/b:/content", f"{ME}/items/root/content", ("a", "b")),
        ("/v1.0/me/drive/root:/a/b:/children", f"{ME}/items/root/children", ("a", "b")),
        ("/v1.0/me/drive/root:/a/b:/copy", f"{ME}/items/root/copy", ("a", "b")),
        ("/v1.0/me/drive/root:/a/b:/content/", f"{ME}/items/root/content", ("a", "b")),
        ("/v1.0/me/drive/root:/a.txt", f"{ME}/items/root", ("a.txt",)),
        ("/v1.0/me/drive/items/ABC:/rel/path", f"{ME}/items/ABC", ("rel", "path")),
        ("/v1.0/me/drive/items/ABC:/rel/path:", f"{ME}/items/ABC", ("rel", "path")),
        (
            "/v1.0/me/drive/items/ABC:/rel/path:/children",
            f"{ME}/items/ABC/children",
            ("rel", "path"),
        ),
        (
            "/v1.0/me/drive/items/ABC:/new.txt:/content",
            f"{ME}/items/ABC/content",
            ("new.txt",),
        ),
        ("/v1.0/drives/D1/root:/x:/content", "/v1.0/drives/D1/items/root/content", ("x",)),
        ("/v1.0/drives/D1/items/ABC:/x/y:", "/v1.0/drives/D1/items/ABC", ("x", "y")),
    ],
)
def test_path_addressing(path: str, route: str, segments: tuple[str, ...]) -> None:
    assert normalise(path) == (route, segments)


def test_decoded_percent_encoded_segment() -> None:
    # what arrives once the server has decoded ``items/root%3A%2Fa.txt%3A/content``
    assert normalise("/v1.0/me/drive/items/root:/a.txt:/content") == (
        f"{ME}/items/root/content",
        ("a.txt",),
    )


@pytest.mark.parametrize(
    "names",
    [
        ("My Documents", "annual report.txt"),
        ("Résumé", "日本語.txt"),
        ("emoji 🎉", "a#b.txt"),
        ("#", "100% done & more+.txt"),
    ],
)
def test_names_with_spaces_unicode_and_hash(names: tuple[str, ...]) -> None:
    path = "/v1.0/me/drive/root:/" + "/".join(names) + ":/content"
    assert normalise(path) == (f"{ME}/items/root/content", names)


def test_repeated_and_edge_slashes_make_no_empty_segments() -> None:
    assert normalise("/v1.0/me/drive/root://a//b/:") == (f"{ME}/items/root", ("a", "b"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1.0/drive/root", (f"{ME}/items/root", None)),
        ("/v1.0/drive/items/ABC", (f"{ME}/items/ABC", None)),
        ("/v1.0/drive/root:/a:/content", (f"{ME}/items/root/content", ("a",))),
        ("/v2.0/me/drive/root", (f"{ME}/items/root", None)),
        ("/v2.0/drives/D1/items/ABC/copy", ("/v1.0/drives/D1/items/ABC/copy", None)),
        ("/v2.0/drives/D1/root:/a/b:/content", ("/v1.0/drives/D1/items/root/content", ("a", "b"))),
        ("/v2.0/drive/root:/x:", (f"{ME}/items/root", ("x",))),
    ],
)
def test_aliases(path: str, expected: tuple[str, tuple[str, ...] | None]) -> None:
    assert normalise(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/download/xyz",
        "/monitor/abc",
        "/monitor/abc:def",
        "/",
        "/v1.0/me",
        "/v1.0/users/u1/drive/root",
        "/v1.0/me/drive/rootless",
        "/v1.0/me/drivex/root",
        "/v3.0/me/drive/root",
    ],
)
def test_other_paths_are_untouched(path: str) -> None:
    assert normalise(path) == (path, None)


def test_normalising_twice_changes_nothing() -> None:
    route, _ = normalise("/v2.0/drive/root:/a/b:/content")
    assert normalise(route) == (route, None)
