"""Verify an external identity provider's RS256 tokens against its published keys (JWKS).

The key set comes from a file or a URL and is cached for ``cache_seconds``. A token naming an
unknown ``kid`` triggers one early re-fetch (the provider may have rotated its keys), at most
once per :data:`_UNKNOWN_KID_REFETCH_SECONDS` so that tokens with made-up kids cannot turn us
into a load generator against the provider. When a re-fetch fails the previous keys stay in use.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from graphdrive.auth.principal import (
    Principal,
    invalid_token,
    principal_from_claims,
    unauthenticated,
)
from graphdrive.auth.tokens import token_error
from graphdrive.exceptions import ConfigurationError

__all__ = ["JwksVerifier"]

logger = logging.getLogger(__name__)

_ALGORITHM = "RS256"  # the only one accepted: no "none", no HS256 keyed with the public key
_FETCH_TIMEOUT_SECONDS = 5.0
_UNKNOWN_KID_REFETCH_SECONDS = 10.0
_FAILURE_RETRY_SECONDS = 10.0  # after a failed load, fail fast instead of waiting on every call


class _JwksUnavailable(Exception):
    """The key set could not be loaded; never leaves this module."""


@dataclass(frozen=True)
class _KeySet:
    by_kid: Mapping[str, RSAPublicKey]
    keys: tuple[RSAPublicKey, ...]

    def select(self, kid: str | None) -> RSAPublicKey | None:
        if kid is not None:
            return self.by_kid.get(kid)
        # A token without a kid is only unambiguous when the provider has a single key.
        return self.keys[0] if len(self.keys) == 1 else None


def _parse_jwks(document: object) -> _KeySet:
    """The RS256 signing keys of a JWKS document; other keys are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _JwksUnavailable("the document is not a JWKS (no 'keys' list)")
    by_kid: dict[str, RSAPublicKey] = {}
    keys: list[RSAPublicKey] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", _ALGORITHM) != _ALGORITHM:
            continue
        try:
            key = RSAAlgorithm.from_jwk(jwk)
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            logger.debug("Skipping a malformed RSA key %r in the JWKS.", jwk.get("kid"))
            continue
        public = key.public_key() if isinstance(key, RSAPrivateKey) else key
        kid = jwk.get("kid")
        if isinstance(kid, str):
            by_kid[kid] = public
        keys.append(public)
    if not keys:
        raise _JwksUnavailable("the JWKS holds no RS256 signing key")
    return _KeySet(by_kid=by_kid, keys=tuple(keys))


async def _read_file(path: Path) -> object:
    try:
        return json.loads(await anyio.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _JwksUnavailable(str(exc)) from exc


async def _fetch_url(url: str, transport: httpx.AsyncBaseTransport | None) -> object:
    try:
        async with httpx.AsyncClient(transport=transport, timeout=_FETCH_TIMEOUT_SECONDS) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError) as exc:
        raise _JwksUnavailable(f"{type(exc).__name__}: {exc}") from exc


class JwksVerifier:
    """A :class:`~graphdrive.auth.principal.TokenVerifier` for RS256 tokens checked by JWKS.

    ``issuer`` and ``audience`` are checked when given (``None`` skips the check, so they have
    no default: skipping must be a decision). ``leeway_seconds`` absorbs clock skew with the
    provider. ``transport`` replaces httpx's network transport, for tests.
    """

    def __init__(
        self,
        *,
        jwks_file: Path | None = None,
        jwks_url: str | None = None,
        issuer: str | None,
        audience: str | None,
        cache_seconds: int = 300,
        leeway_seconds: int = 60,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if cache_seconds < 0 or leeway_seconds < 0:
            raise ConfigurationError("cache_seconds and leeway_seconds must not be negative.")
        self._fetch: Callable[[], Awaitable[object]]
        if jwks_url is not None and jwks_file is None:
            _check_url(jwks_url)
            self._source = jwks_url
            self._fetch = functools.partial(_fetch_url, jwks_url, transport)
        elif jwks_file is not None and jwks_url is None:
            self._source = str(jwks_file)
            self._fetch = functools.partial(_read_file, jwks_file)
        else:
            raise ConfigurationError("Configure exactly one of a JWKS file and a JWKS URL.")
        self._issuer = issuer or None
        self._audience = audience or None
        self._cache_seconds = cache_seconds
        self._leeway_seconds = leeway_seconds
        self._lock = anyio.Lock()
        self._keys: _KeySet | None = None
        self._generation = 0  # counts load attempts, to spot a load done while we waited
        self._expires_at = 0.0
        self._retry_at = 0.0
        self._last_kid_refetch: float | None = None

    def __repr__(self) -> str:
        return (
            f"JwksVerifier(source={self._source!r}, issuer={self._issuer!r}, "
            f"audience={self._audience!r})"
        )

    async def verify(self, token: str) -> Principal:
        """The principal of a token signed by one of the provider's current keys."""
        kid = _unverified_kid(token)
        key = (await self._key_set(refresh=False)).select(kid)
        if key is None and kid is not None and self._may_refetch_for_unknown_kid():
            key = (await self._key_set(refresh=True)).select(kid)
        if key is None:
            raise invalid_token("The token's signing key is not one of the provider's keys.")
        required = ["exp"]
        required += ["iss"] if self._issuer else []
        required += ["aud"] if self._audience else []
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_seconds,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise token_error(exc) from exc
        return principal_from_claims(claims)

    def _may_refetch_for_unknown_kid(self) -> bool:
        now = time.monotonic()
        last = self._last_kid_refetch
        if last is not None and now - last < _UNKNOWN_KID_REFETCH_SECONDS:
            return False
        self._last_kid_refetch = now
        return True

    async def _key_set(self, *, refresh: bool) -> _KeySet:
        seen = self._generation
        if not refresh and self._keys is not None and time.monotonic() < self._expires_at:
            return self._keys
        async with self._lock:
            if self._generation == seen and time.monotonic() >= self._retry_at:
                await self._load()
            if self._keys is None:
                raise unauthenticated(
                    "The identity provider's signing keys could not be loaded; try again later."
                )
            return self._keys

    async def _load(self) -> None:
        try:
            self._keys = _parse_jwks(await self._fetch())
            self._expires_at = time.monotonic() + self._cache_seconds
        except _JwksUnavailable as exc:
            self._retry_at = time.monotonic() + _FAILURE_RETRY_SECONDS
            logger.warning(
                "Cannot load the JWKS from %s (%s)%s.",
                self._source,
                exc,
                "; keeping the previous keys" if self._keys is not None else "",
                extra={"action": "jwks_load_failed", "source": self._source},
            )
        finally:
            self._generation += 1


def _check_url(url: str) -> None:
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"Invalid JWKS URL {url!r}: {exc}") from exc
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"The JWKS URL must be http(s), not {url!r}.")


def _unverified_kid(token: str) -> str | None:
    """The ``kid`` of a token's header, after refusing any algorithm but RS256."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise token_error(exc) from exc
    if header.get("alg") != _ALGORITHM:
        raise invalid_token("The token's signing algorithm is not accepted (RS256 only).")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise invalid_token("The token's 'kid' header must be a string.")
    return kid
