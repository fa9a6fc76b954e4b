"""Unit tests of graphdrive.domain.names: validity rules, name identity, rename candidates."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import pytest

from graphdrive.domain.names import (
    MAX_NAME_LENGTH,
    first_free_name,
    name_key,
    rename_candidates,
    storable,
    validate_name,
)
from graphdrive.exceptions import InvalidRequest

# --- validate_name: what OneDrive rejects ---------------------------------------------------


@pytest.mark.parametrize("char", list('"*:<>?/\\|'))
@pytest.mark.parametrize("template", ["{}", "a{}b.txt", "name{}"])
def test_forbidden_characters_are_rejected(template: str, char: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(template.format(char))


@pytest.mark.parametrize("name", [" a.txt", "a.txt ", " a ", "  folder"])
def test_leading_or_trailing_spaces_are_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name)


@pytest.mark.parametrize("name", ["", " ", "   "])
def test_empty_or_blank_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name)


@pytest.mark.parametrize("name", ["a\tb", "line\nbreak", "nul\x00byte", "\x1f"])
def test_control_characters_are_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name)


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_and_dotdot_are_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name)


DEVICE_NAMES = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{n}" for n in range(10)),
    *(f"LPT{n}" for n in range(10)),
]


@pytest.mark.parametrize("device", DEVICE_NAMES)
@pytest.mark.parametrize("spell", [str.upper, str.lower, str.capitalize])
def test_device_names_are_reserved_in_any_case(device: str, spell: Callable[[str], str]) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        validate_name(spell(device))


@pytest.mark.parametrize("name", ["con.txt", "CON.TXT", "Nul.log", "com1.doc", "lpt9.tar.gz"])
def test_device_names_with_an_extension_are_reserved(name: str) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        validate_name(name)


@pytest.mark.parametrize("name", [".lock", ".LOCK", "desktop.ini", "Desktop.INI", "DESKTOP.INI"])
def test_exact_reserved_names_are_rejected_in_any_case(name: str) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        validate_name(name)


@pytest.mark.parametrize(
    "name", ["_vti_", "_vti_cnf", "a_vti_b.txt", "report_VTI_.docx", "x _Vti_"]
)
def test_vti_anywhere_is_reserved_in_any_case(name: str) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        validate_name(name)


@pytest.mark.parametrize(
    "name",
    [
        # near misses of the reserved names
        "console",
        "CONTACTS.txt",
        "auxiliary.doc",
        "nullable",
        "COM10",
        "LPT",
        "com",
        "lock",
        "desktop.ini.bak",
        "vti",
        "_vti",
        # ordinary and unicode names
        "report.txt",
        "a b c",
        "Résumé.docx",
        "日本語のファイル.txt",
        "Ωμέγα",
        "emoji 🎉.png",
        "hash#percent%amp&plus+.txt",
        ".bashrc",
        "a.tar.gz",
    ],
)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) == name


def test_a_name_of_maximum_length_is_accepted() -> None:
    name = "a" * MAX_NAME_LENGTH
    assert validate_name(name) == name


def test_a_name_one_over_maximum_length_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="longer"):
        validate_name("a" * (MAX_NAME_LENGTH + 1))


def test_the_rejection_is_a_400_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_name("a|b")
    assert (info.value.status, info.value.code) == (400, "invalidRequest")


# --- name_key: names are case-insensitive -------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Report.TXT", "report.txt"),
        ("RÉSUMÉ", "résumé"),
        ("Straße", "STRASSE"),  # casefold, not lower
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ],
)
def test_names_differing_only_in_case_share_a_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


def test_different_names_have_different_keys() -> None:
    assert name_key("report.txt") != name_key("report 1.txt")


# --- rename_candidates ----------------------------------------------------------------------


def first_candidates(name: str, *, is_folder: bool, count: int = 3) -> list[str]:
    return list(islice(rename_candidates(name, is_folder=is_folder), count))


@pytest.mark.parametrize(
    ("name", "is_folder", "expected"),
    [
        ("report.txt", False, ["report 1.txt", "report 2.txt", "report 3.txt"]),
        ("README", False, ["README 1", "README 2", "README 3"]),
        ("A", True, ["A 1", "A 2", "A 3"]),
        # a folder's dot is part of its name, not an extension
        ("v1.2", True, ["v1.2 1", "v1.2 2", "v1.2 3"]),
        # a dotfile has no extension: the dot starts the name
        (".bashrc", False, [".bashrc 1", ".bashrc 2", ".bashrc 3"]),
        # only the last extension moves, as OneDrive does
        ("a.tar.gz", False, ["a.tar 1.gz", "a.tar 2.gz", "a.tar 3.gz"]),
        ("Mixed Case.PDF", False, ["Mixed Case 1.PDF", "Mixed Case 2.PDF", "Mixed Case 3.PDF"]),
    ],
)
def test_rename_candidates(name: str, is_folder: bool, expected: list[str]) -> None:
    assert first_candidates(name, is_folder=is_folder) == expected


# --- first_free_name ------------------------------------------------------------------------


def taken_by(*names: str) -> set[str]:
    """The keys a folder holding ``names`` would report as taken."""
    return {name_key(n) for n in names}


def test_a_free_name_is_kept() -> None:
    assert first_free_name("report.txt", is_folder=False, taken=set().__contains__) == "report.txt"


def test_a_taken_name_gets_suffix_1() -> None:
    taken = taken_by("report.txt")
    assert first_free_name("report.txt", is_folder=False, taken=taken.__contains__) == (
        "report 1.txt"
    )


def test_then_suffix_2() -> None:
    taken = taken_by("report.txt", "report 1.txt")
    assert first_free_name("report.txt", is_folder=False, taken=taken.__contains__) == (
        "report 2.txt"
    )


def test_the_lowest_free_suffix_is_used() -> None:
    taken = taken_by("report.txt", "report 2.txt", "report 3.txt")
    assert first_free_name("report.txt", is_folder=False, taken=taken.__contains__) == (
        "report 1.txt"
    )


def test_folders_get_a_suffix_without_extension_handling() -> None:
    taken = taken_by("A", "A 1")
    assert first_free_name("A", is_folder=True, taken=taken.__contains__) == "A 2"


def test_dotfiles_get_the_suffix_at_the_end() -> None:
    taken = taken_by(".bashrc")
    assert first_free_name(".bashrc", is_folder=False, taken=taken.__contains__) == ".bashrc 1"


def test_several_dots_suffix_goes_before_the_last_extension() -> None:
    taken = taken_by("a.tar.gz")
    assert first_free_name("a.tar.gz", is_folder=False, taken=taken.__contains__) == "a.tar 1.gz"


def test_a_name_taken_in_another_case_is_not_free() -> None:
    taken = taken_by("report.txt")
    assert first_free_name("REPORT.txt", is_folder=False, taken=taken.__contains__) == (
        "REPORT 1.txt"
    )


def test_candidates_taken_in_another_case_are_skipped_and_the_case_is_kept() -> None:
    taken = taken_by("Report.txt", "REPORT 1.TXT", "report 2.txt")
    assert first_free_name("Report.TXT", is_folder=False, taken=taken.__contains__) == (
        "Report 3.TXT"
    )


def test_taken_is_asked_about_casefolded_keys() -> None:
    asked: list[str] = []

    def taken(key: str) -> bool:
        asked.append(key)
        return len(asked) == 1

    assert first_free_name("Straße.TXT", is_folder=False, taken=taken) == "Straße 1.TXT"
    assert asked == ["strasse.txt", "strasse 1.txt"]


# --- storable: text every metadata backend can hold -------------------------------------------


@pytest.mark.parametrize("text", ["", "report.txt", "Überweisung ✓", "😀", "a\x01b", "b!abc"])
def test_ordinary_text_is_storable(text: str) -> None:
    assert storable(text)


@pytest.mark.parametrize("text", ["\x00", "a\x00b", "\udcff", "a\ud800", "\udfff\ud800"])
def test_nul_and_lone_surrogates_are_not_storable(text: str) -> None:
    assert not storable(text)
