"""Small wire formats shared by every resource."""

from __future__ import annotations

from datetime import UTC, datetime


def graph_datetime(value: datetime) -> str:
    """``2017-08-07T16:07:37.427Z``: ISO 8601 in UTC with milliseconds, as Graph writes it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identity(user_id: str, display_name: str) -> dict[str, dict[str, str]]:
    return {"user": {"id": user_id, "displayName": display_name}}
