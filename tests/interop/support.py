"""Small helpers shared by the interop tests and their conftest."""

from __future__ import annotations

import re

_CAPABILITY = re.compile(r"/(upload|download|monitor)/[A-Za-z0-9._~%-]+")


def redact(text: str) -> str:
    """Capability URLs (upload, download and monitor tokens) cut short for logs and reports."""
    return _CAPABILITY.sub(lambda m: f"/{m[1]}/…", text)


def log_tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])
