"""The HTTP layer every client call goes through: auth, retries, error translation.

Two doors, and the difference is the point:

- :meth:`HttpCore.api` talks to the Graph API. It adds ``Authorization: Bearer …`` — but only
  when the URL is on the API's own origin, so an absolute link pointing elsewhere never gets
  the token — and raises an :class:`~graphdrive.client.errors.ApiError` for error answers.
- :meth:`HttpCore.bare` (and :meth:`HttpCore.bare_stream`) call capability URLs — monitors,
  upload sessions, download links — which are secrets by themselves and may live on other
  hosts. They never carry the Authorization header and hand every answer back to the caller,
  which knows what a 404 or a 416 means there.

Both retry 429/503 honouring ``Retry-After`` (seconds or an HTTP date) and retry requests that
failed before reaching the server. Redirects are never followed automatically.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import httpx

from graphdrive.client.errors import ProtocolError, error_from_response, redact, transport_error
from graphdrive.client.retry import Clock, RetryPolicy, SystemClock, parse_retry_after
from graphdrive.client.urls import same_origin

log = logging.getLogger("graphdrive.client")

TokenProvider: TypeAlias = Callable[[], str | Awaitable[str]]
"""A callable returning the current access token (sync or async); called for every request, so
it can refresh an expiring token."""

Timeout: TypeAlias = float | httpx.Timeout
THROTTLED = frozenset({429, 503})
# Methods that can be sent again after the connection broke mid-request.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_USER_AGENT = "graphdrive-client/0.1"


class HttpCore:
    """One httpx connection pool, the credentials, and the retry policy."""

    def __init__(
        self,
        api_root: str | None,
        token: str | TokenProvider | None = None,
        *,
        timeout: Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.api_root = api_root
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self._token = token
        self._client = httpx.AsyncClient(
            timeout=self.timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": _USER_AGENT},
        )

    def __repr__(self) -> str:  # never show the token
        return f"HttpCore(api_root={self.api_root!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        if self.api_root is None:
            raise ValueError("This client has no API URL; it can only follow monitor URLs.")
        return self.api_root + path_or_url

    def read_timeout(self, extra: float) -> httpx.Timeout:
        """The client's timeout with ``extra`` seconds more to read (for long-polls)."""
        t = self.timeout
        return httpx.Timeout(
            connect=t.connect,
            read=None if t.read is None else t.read + extra,
            write=t.write,
            pool=t.pool,
        )

    async def api(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call the API (authenticated); raises ``ApiError`` for 4xx/5xx answers."""
        url = self.url(path_or_url)
        response = await self._send(
            method,
            url,
            auth=self.api_root is not None and same_origin(url, self.api_root),
            params=params,
            json=json,
            content=content,
            headers=headers,
        )
        if response.is_error:
            raise self.error(response)
        return response

    async def bare(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Call a capability URL: never authenticated; every answer is returned as it is."""
        return await self._send(
            method, url, auth=False, content=content, headers=headers, timeout=timeout
        )

    @asynccontextmanager
    async def bare_stream(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Like :meth:`bare`, with the body left unread for streaming."""
        response = await self._send(method, url, auth=False, headers=headers, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    def error(self, response: httpx.Response) -> Exception:
        """The exception for an error answer (its body must have been read)."""
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.time())
        return error_from_response(response, retry_after)

    async def _bearer(self) -> str | None:
        token = self._token
        if callable(token):
            value = token()
            token = await value if inspect.isawaitable(value) else value
        return token or None

    async def _send(
        self,
        method: str,
        url: str,
        *,
        auth: bool,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        backoff = self.retry.backoff()
        attempt = 0
        while True:
            sent = dict(headers or {})
            token = await self._bearer() if auth else None
            if token:
                sent["Authorization"] = f"Bearer {token}"
            request = self._client.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=sent,
                timeout=timeout or self.timeout,
            )
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt < self.retry.max_retries and _replayable(method, exc):
                    attempt += 1
                    delay = backoff.next()
                    log.debug("retrying %s %s in %.1fs after %r", method, redact(url), delay, exc)
                    await self.clock.sleep(delay)
                    continue
                raise transport_error(exc, url if auth else redact(url)) from exc
            if response.status_code in THROTTLED and attempt < self.retry.max_retries:
                wait = parse_retry_after(response.headers.get("retry-after"), self.clock.time())
                if wait is None or wait <= self.retry.max_delay:
                    await response.aclose()
                    attempt += 1
                    delay = backoff.next() if wait is None else wait
                    log.debug(
                        "%s from %s: retrying in %.1fs", response.status_code, redact(url), delay
                    )
                    await self.clock.sleep(delay)
                    continue
            if stream and response.is_error:
                await response.aread()
            return response


def json_body(response: httpx.Response) -> Any:
    """The JSON body of an answer; a body that is not JSON is a :class:`ProtocolError`."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            f"Expected JSON from {response.request.method} {redact(str(response.request.url))}, "
            f"got {response.status_code} {response.headers.get('content-type', '')}."
        ) from exc


def _replayable(method: str, exc: httpx.TransportError) -> bool:
    """A request that never reached the server can always be sent again; others only if
    sending them twice does no harm."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return method.upper() in _IDEMPOTENT
