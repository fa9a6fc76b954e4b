"""Fixtures for the interop suite.

One `graphdrive serve` process (started with the e2e harness) serves the whole interop session;
each client works as its own user, so each starts from an empty drive. When a test fails, the
tail of the server's log is attached to the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.server import ServerProcess, running_server

from .support import log_tail, redact

SERVER_LOG_LINES = 80


@pytest.fixture(scope="session")
def interop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("interop") / "data"
    with running_server(data_dir) as srv:
        yield srv


_SERVER_ERROR = re.compile(r'^.*"[A-Z]+ [^"]*" 5\d\d\s*$', re.MULTILINE)


@pytest.fixture(scope="session")
def _checked_log(interop_server: ServerProcess) -> dict[str, int]:
    return {"stdout": 0, "stderr": 0}


@pytest.fixture(autouse=True)
def no_server_errors(interop_server: ServerProcess, _checked_log: dict[str, int]) -> Iterator[None]:
    """After each test: the server answered no request with a 5xx (its access log says so),
    whatever the client made of it (rclone, for one, retries and may hide a failure)."""
    yield
    errors: list[str] = []
    for stream, text in (("stdout", interop_server.stdout()), ("stderr", interop_server.stderr())):
        errors += _SERVER_ERROR.findall(text[_checked_log[stream] :])
        _checked_log[stream] = len(text)
    if errors:
        pytest.fail("graphdrive answered 5xx:\n" + redact("\n".join(errors[:20])))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    server = getattr(item, "funcargs", {}).get("interop_server")
    if report.failed and isinstance(server, ServerProcess):
        report.sections.append(
            (
                f"graphdrive server log (last {SERVER_LOG_LINES} lines)",
                redact(log_tail(server.stdout() + server.stderr(), SERVER_LOG_LINES)),
            )
        )
