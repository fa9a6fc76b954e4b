"""A handle on a long-running action (``asyncJobStatus`` behind a monitor URL).

Polling rules, each one a lesson from real clients:

- the report is read from the body, never inferred from the status code alone: 202 and 200
  both carry it; a 303 is *not followed* (that would walk into the API, and a client that
  follows with its token leaks it) — its ``Location`` names the result;
- ``Retry-After`` is honoured; without it the delay backs off from 0.5 s to 10 s, and starts
  again at 0.5 s whenever the report moves;
- ``Prefer: wait=N`` is sent; when the server applies it (``Preference-Applied``) the time it
  held the request counts towards the delay;
- ``failed`` and ``cancelled`` raise typed exceptions with the error code and message; a monitor
  that answers 404/410 raises :class:`MonitorExpired` — never an endless loop;
- the monitor URL is a capability: it is called without the Authorization header.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx

from graphdrive.client.errors import (
    ApiError,
    GraphClientError,
    MonitorExpired,
    NotFoundError,
    OperationCancelled,
    OperationFailed,
    OperationTimeout,
    ProtocolError,
    ThrottledError,
    TransportError,
)
from graphdrive.client.http import HttpCore, Timeout, json_body
from graphdrive.client.models import DriveItem, JobReport, JobStatus
from graphdrive.client.retry import Backoff, Clock, parse_retry_after
from graphdrive.client.urls import ById, item_url, same_origin

ProgressCallback = Callable[[JobReport], None]
"""Called with each new report while waiting (only when the report changed)."""

PREFER_WAIT_SECONDS = 10
MAX_TRANSIENT_FAILURES = 5


class AsyncOperation:
    """A long-running action: ``status()``, ``wait()``, ``cancel()``, ``result()``.

    Get one from :meth:`AsyncDriveClient.copy`, :meth:`AsyncDriveClient.operation`, or
    :meth:`from_monitor_url` (for example in another process, later).
    """

    def __init__(
        self,
        http: HttpCore,
        monitor_url: str,
        *,
        authenticated: bool = False,
        drive: str = "/me/drive",
        prefer_wait: int = PREFER_WAIT_SECONDS,
        owns_http: bool = False,
    ) -> None:
        self._http = http
        self._monitor_url = monitor_url
        self._authenticated = authenticated
        self._drive = drive
        self._owns_http = owns_http
        self.prefer_wait = prefer_wait
        self.last_report: JobReport | None = None
        """The most recent report read from the monitor."""

    @classmethod
    def from_monitor_url(
        cls,
        url: str,
        *,
        timeout: Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> AsyncOperation:
        """Watch an action by its monitor URL alone (no token needed; ``result()`` needs an
        API client: use :meth:`AsyncDriveClient.operation` for that)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"A monitor URL is absolute (http:// or https://): {url!r}")
        http = HttpCore(None, timeout=timeout, transport=transport, clock=clock)
        return cls(http, url, owns_http=True)

    @property
    def monitor_url(self) -> str:
        """The URL polled: a monitor URL, or (opened by id) the owner's operation resource."""
        return self._monitor_url

    def __repr__(self) -> str:
        status = self.last_report.status.value if self.last_report else "unknown"
        return f"<AsyncOperation status={status}>"  # the URL is a secret: not shown

    async def aclose(self) -> None:
        """Close the connections this handle opened itself (from a monitor URL alone)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncOperation:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def status(self) -> JobReport:
        """One report, as it is now (a failed or cancelled report is returned, not raised)."""
        report, _, _ = await self._poll(0)
        return report

    async def wait(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> JobReport:
        """Poll until the action ends; return the ``completed`` report.

        Raises :class:`OperationFailed` / :class:`OperationCancelled` when it ends otherwise,
        :class:`MonitorExpired` when the monitor is gone, :class:`OperationTimeout` after
        ``timeout`` seconds (the action itself goes on).
        """
        clock = self._http.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        backoff = Backoff(0.5, 10.0)
        previous: JobReport | None = None
        failures = 0
        while True:
            remaining = math.inf if deadline is None else deadline - clock.monotonic()
            prefer = int(min(self.prefer_wait, max(remaining, 0)))
            started = clock.monotonic()
            report: JobReport | None
            try:
                report, retry_after, held = await self._poll(prefer)
            except (TransportError, ApiError) as exc:
                failures += 1
                if not _transient(exc) or failures >= MAX_TRANSIENT_FAILURES:
                    raise
                report, retry_after, held = previous, None, False
            else:
                failures = 0
            if report is not None and report != previous:
                backoff.reset()
                if on_progress is not None:
                    on_progress(report)
            if report is not None and report.finished:
                return settle(report)
            previous = report or previous
            delay = retry_after if retry_after is not None else backoff.next()
            if held:
                delay = max(0.0, delay - (clock.monotonic() - started))
            if deadline is not None:
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise OperationTimeout(
                        f"Not finished after {timeout} s (the action goes on).", previous
                    )
                delay = min(delay, left)
            await clock.sleep(delay)

    async def cancel(self) -> JobReport | None:
        """Ask the server to cancel (``DELETE`` the monitor).

        Returns the report that follows (often ``deletePending``, then ``cancelled``), or None
        when the action had already finished (the server then revokes the monitor).
        """
        response = await self._request("DELETE", {})
        if response.status_code == 204:
            return None
        report = read_report(response)
        self.last_report = report
        return report

    async def result(self, timeout: float | None = None) -> DriveItem:
        """Wait for the action (if needed) and return the driveItem it produced."""
        report = self.last_report
        if report is None or report.status is not JobStatus.COMPLETED:
            report = await self.wait(timeout)
        api_root = self._http.api_root
        if api_root is None:
            raise GraphClientError(
                "result() needs an API client: open the operation with "
                "client.operation(url) rather than from_monitor_url(url)."
            )
        location = report.resource_location
        if location and same_origin(location, api_root):
            response = await self._http.api("GET", location)
        elif report.resource_id:
            response = await self._http.api("GET", item_url(self._drive, ById(report.resource_id)))
        else:
            raise ProtocolError("The action completed without naming its result (resourceId).")
        return DriveItem.from_json(json_body(response))

    async def _poll(self, prefer_wait: int) -> tuple[JobReport, float | None, bool]:
        """One GET: the report, the Retry-After (s) and whether the server held the request."""
        headers = {"Prefer": f"wait={prefer_wait}"} if prefer_wait > 0 else {}
        timeout = self._http.read_timeout(prefer_wait) if prefer_wait > 0 else None
        response = await self._request("GET", headers, timeout)
        report = read_report(response)
        self.last_report = report
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), self._http.clock.time()
        )
        held = "wait" in response.headers.get("preference-applied", "").lower()
        return report, retry_after, held

    async def _request(
        self, method: str, headers: dict[str, str], timeout: httpx.Timeout | None = None
    ) -> httpx.Response:
        if self._authenticated:
            try:
                return await self._http.api(method, self._monitor_url, headers=headers)
            except NotFoundError as exc:
                raise MonitorExpired(_EXPIRED) from exc
        response = await self._http.bare(
            method, self._monitor_url, headers=headers, timeout=timeout
        )
        if response.status_code in (404, 410):
            raise MonitorExpired(_EXPIRED)
        if response.is_error:
            raise self._http.error(response)
        return response


_EXPIRED = (
    "The monitor URL no longer answers (404/410): the action's status has expired, was "
    "revoked, or the URL is wrong. Check the destination, or list operations."
)


def settle(report: JobReport) -> JobReport:
    """Return a completed report; raise the typed exception for any other ending."""
    if report.status is JobStatus.COMPLETED:
        return report
    if report.status is JobStatus.CANCELLED:
        raise OperationCancelled(report.description or "The action was cancelled.", report)
    raise OperationFailed(
        report.error_code or "generalException",
        report.error_message or "The action failed.",
        report,
    )


def read_report(response: httpx.Response) -> JobReport:
    """The report in a monitor's answer: 200/202 with a body, or a 303 to the result."""
    body = _json(response)
    if response.status_code == 303:
        location = response.headers.get("location")
        if isinstance(body, dict) and "status" in body:
            report = JobReport.from_json(body)
            return replace(report, resource_location=report.resource_location or location)
        if not location:
            raise ProtocolError("The monitor answered 303 without a Location.")
        return JobReport(
            JobStatus.COMPLETED,
            percent=100.0,
            resource_id=resource_id_of(location),
            resource_location=location,
        )
    if response.status_code not in (200, 201, 202):
        raise ProtocolError(f"Unexpected answer from the monitor: {response.status_code}.")
    if isinstance(body, dict) and "status" not in body and isinstance(body.get("id"), str):
        # Some services answer the finished monitor with the new driveItem itself.
        return JobReport(JobStatus.COMPLETED, percent=100.0, resource_id=body["id"], raw=body)
    return JobReport.from_json(body)


def resource_id_of(location: str) -> str | None:
    """``…/items/{id}`` → ``{id}``."""
    path = httpx.URL(location).path
    _, found, rest = path.rpartition("/items/")
    return (rest.split("/")[0] or None) if found else None


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _transient(exc: Exception) -> bool:
    """Worth another poll: the connection failed, or the server had a passing problem."""
    if isinstance(exc, TransportError | ThrottledError):
        return True
    return isinstance(exc, ApiError) and exc.status in (500, 502, 504)
