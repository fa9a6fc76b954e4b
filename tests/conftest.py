"""Whole-suite set-up: which metadata backend the end-to-end servers use."""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.e2e.server import POSTGRES_ENV, postgres_admin_url


def pytest_report_header(config: pytest.Config) -> str:
    if postgres_admin_url():
        return "graphdrive backend: PostgreSQL (a fresh database per test server)"
    return (
        "graphdrive backend: SQLite. `make test` runs the end-to-end suite on PostgreSQL too "
        f"when {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test is set (CI sets it)."
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop databases left by earlier PostgreSQL runs (names gdt_<pid>_…)."""
    admin_url = postgres_admin_url()
    if not admin_url:
        return
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'gdt_%'")
        ]
        for name in names:
            if _alive(name):
                continue  # a concurrent run's
            with contextlib.suppress(psycopg.Error):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _alive(name: str) -> bool:
    try:
        pid = int(name.split("_")[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
