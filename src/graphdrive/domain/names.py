"""Item names: OneDrive's validity rules, case-insensitive identity, and rename candidates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from graphdrive.exceptions import InvalidRequest

MAX_NAME_LENGTH = 400
_FORBIDDEN_CHARS = frozenset('"*:<>?/\\|')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_RESERVED_EXACT = frozenset({".lock", "desktop.ini"})


def validate_name(name: str) -> str:
    """Return ``name`` if OneDrive would accept it, else raise :class:`InvalidRequest`."""
    if not name or not name.strip():
        raise InvalidRequest("The name must not be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"The name is longer than {MAX_NAME_LENGTH} characters.")
    if name != name.strip(" "):
        raise InvalidRequest("The name must not start or end with a space.")
    bad = sorted(set(name) & _FORBIDDEN_CHARS)
    if bad:
        raise InvalidRequest(f"The name contains characters that are not allowed: {''.join(bad)}")
    if any(ord(ch) < 32 for ch in name):
        raise InvalidRequest("The name contains control characters.")
    if name in (".", ".."):
        raise InvalidRequest("The name is reserved.")
    lowered = name.lower()
    if lowered in _RESERVED_EXACT or _RESERVED.match(name) or "_vti_" in lowered:
        raise InvalidRequest(f"The name '{name}' is reserved.")
    return name


def storable(text: str) -> bool:
    """Whether every metadata backend can store and compare ``text``.

    Clients can smuggle in what no stored id, name or key ever holds: NUL (PostgreSQL text cannot
    contain it) and unpaired surrogates (JSON's ``"\\ud800"``; not encodable as UTF-8).
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def name_key(name: str) -> str:
    """The identity of a name within a folder: OneDrive names are case-insensitive."""
    return name.casefold()


def _split_extension(name: str, is_folder: bool) -> tuple[str, str]:
    if is_folder:
        return name, ""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, "." + ext


def rename_candidates(name: str, *, is_folder: bool) -> Iterator[str]:
    """``report.txt`` → ``report 1.txt``, ``report 2.txt``, … (folders: ``A 1``, ``A 2``…)."""
    stem, ext = _split_extension(name, is_folder)
    n = 1
    while True:
        yield f"{stem} {n}{ext}"
        n += 1


def first_free_name(name: str, *, is_folder: bool, taken: Callable[[str], bool]) -> str:
    """The name itself if free, else the lowest integer suffix that makes it unique."""
    if not taken(name_key(name)):
        return name
    for candidate in rename_candidates(name, is_folder=is_folder):
        if not taken(name_key(candidate)):
            return candidate
    raise AssertionError("unreachable: rename_candidates is infinite")  # pragma: no cover
