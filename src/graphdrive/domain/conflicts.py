"""``@microsoft.graph.conflictBehavior``: what to do when a name is already taken."""

from __future__ import annotations

from enum import StrEnum

from graphdrive.exceptions import InvalidRequest


class ConflictBehavior(StrEnum):
    FAIL = "fail"
    REPLACE = "replace"
    RENAME = "rename"

    @classmethod
    def parse(cls, value: str | None, default: ConflictBehavior) -> ConflictBehavior:
        if value is None or value == "":
            return default
        try:
            return cls(value.lower())
        except ValueError:
            raise InvalidRequest(
                f"Unknown @microsoft.graph.conflictBehavior '{value}': use fail, replace or rename."
            ) from None
