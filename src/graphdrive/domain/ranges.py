"""HTTP ``Range`` headers for downloads (RFC 9110 §14), single ranges only."""

from __future__ import annotations

from graphdrive.exceptions import InvalidRange


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return ``(start, end_exclusive)`` for a satisfiable single range.

    ``None`` means "send the whole representation" (no header, or a form we may ignore such as
    several ranges). An unsatisfiable range raises :class:`InvalidRange` (416).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                raise _unsatisfiable(size)
            return max(size - suffix, 0), size
        start = int(first)
        end = int(last) + 1 if last else None
    except ValueError:
        return None
    if start < 0 or (end is not None and end <= start):
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end if end is not None else size, size)


def _unsatisfiable(size: int) -> InvalidRange:
    return InvalidRange(
        "The requested range is not satisfiable.",
        headers={"Content-Range": f"bytes */{size}"},
    )
