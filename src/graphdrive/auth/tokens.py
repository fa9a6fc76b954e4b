"""Our own HS256 tokens for development and single-user installs, and the secret that signs them.

The secret lives in ``<data_dir>/jwt-secret`` (hex, mode 0600) unless one is configured; it is
created once, atomically, so that two processes starting together end up with the same secret.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import jwt

from graphdrive.auth.principal import Principal, invalid_token, principal_from_claims
from graphdrive.exceptions import ConfigurationError, Unauthenticated

__all__ = [
    "DEV_ISSUER",
    "SECRET_FILE_NAME",
    "DevTokens",
    "load_or_create_secret",
    "token_error",
]

logger = logging.getLogger(__name__)

DEV_ISSUER = "graphdrive-dev"
SECRET_FILE_NAME = "jwt-secret"  # noqa: S105 - a file name, not a secret

_SECRET_BYTES = 32  # the HS256 digest size; PyJWT warns about anything shorter
_THIRTY_DAYS = 30 * 24 * 60 * 60


def load_or_create_secret(data_dir: Path, env_secret: str | None) -> bytes:
    """The HS256 signing secret: ``env_secret`` if given, else the one kept in ``data_dir``.

    Raises :class:`ConfigurationError` when the secret is empty or the file cannot be read or
    created.
    """
    if env_secret is not None:
        return _checked(env_secret.encode("utf-8"), "the configured value")
    path = data_dir / SECRET_FILE_NAME
    try:
        return _read_secret(path)
    except FileNotFoundError:
        return _create_secret(path)


def _read_secret(path: Path) -> bytes:
    """Read a secret file; :class:`FileNotFoundError` is left for the caller to act on."""
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the JWT secret file {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "The JWT secret file %s is accessible to other users; chmod 600 it.",
            path,
            extra={"action": "jwt_secret_permissive_mode", "path": str(path)},
        )
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a hex-encoded secret.") from exc
    return _checked(secret, str(path))


def _create_secret(path: Path) -> bytes:
    secret = secrets.token_bytes(_SECRET_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600 with O_EXCL, so the secret is never readable by others.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{SECRET_FILE_NAME}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as tmp:
                tmp.write(secret.hex() + "\n")
                tmp.flush()
                os.fsync(tmp.fileno())
            # Unlike rename, link never replaces an existing file: when two processes start at
            # once exactly one link succeeds, and the other adopts the winner's complete file.
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                return _read_secret(path)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        _fsync_directory(path.parent)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot create the JWT secret file {path}: {exc}. "
            "Fix the data directory's permissions or configure the secret explicitly."
        ) from exc
    logger.info(
        "Created a new JWT signing secret in %s.",
        path,
        extra={"action": "jwt_secret_created", "path": str(path)},
    )
    return secret


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable (POSIX only: other systems cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked(secret: bytes, source: str) -> bytes:
    if not secret:
        raise ConfigurationError(f"The JWT secret from {source} is empty.")
    if len(secret) < _SECRET_BYTES:
        logger.warning(
            "The JWT secret from %s is %d bytes; use at least %d random bytes.",
            source,
            len(secret),
            _SECRET_BYTES,
            extra={"action": "jwt_secret_short"},
        )
    return secret


def token_error(exc: Exception) -> Unauthenticated:
    """Translate a PyJWT (or key) error into a 401 whose message is safe to show a client."""
    message = "The token is not valid."
    if isinstance(exc, jwt.ExpiredSignatureError):
        message = "The token has expired."
    elif isinstance(exc, jwt.ImmatureSignatureError):
        message = "The token is not valid yet."
    elif isinstance(exc, jwt.InvalidIssuerError):
        message = "The token's issuer is not accepted."
    elif isinstance(exc, jwt.InvalidAudienceError):
        message = "The token's audience is not accepted."
    elif isinstance(exc, jwt.MissingRequiredClaimError):
        message = f"The token lacks the required '{exc.claim}' claim."
    elif isinstance(exc, jwt.InvalidSignatureError):
        message = "The token's signature is not valid."
    elif isinstance(exc, jwt.InvalidAlgorithmError):
        message = "The token's signing algorithm is not accepted."
    elif isinstance(exc, jwt.DecodeError):
        message = "The token is malformed."
    return invalid_token(message)


class DevTokens:
    """Issue and verify HS256 tokens shaped like Azure AD's (``oid``, ``name``, ``scp``)."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ConfigurationError("The token-signing secret must not be empty.")
        self._secret = bytes(secret)

    def __repr__(self) -> str:
        return f"DevTokens(issuer={DEV_ISSUER!r})"  # never the secret

    def issue(
        self,
        user: str,
        scopes: Iterable[str] = ("Files.ReadWrite",),
        ttl_seconds: int = _THIRTY_DAYS,
    ) -> str:
        """A signed token for ``user`` (who is both its id and its display name).

        ``scopes`` may also be one space-separated string, as in the ``scp`` claim.
        """
        if not user.strip():
            raise ValueError("The user name must not be empty.")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive.")
        names = scopes.split() if isinstance(scopes, str) else list(scopes)
        for scope in names:
            if not scope or any(char.isspace() for char in scope):
                raise ValueError(f"Invalid scope {scope!r}: scopes are single words.")
        now = int(time.time())
        claims = {
            "iss": DEV_ISSUER,
            "sub": user,
            "oid": user,
            "name": user,
            "scp": " ".join(dict.fromkeys(names)),
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    async def verify(self, token: str) -> Principal:
        """The principal of a token this server issued; :class:`Unauthenticated` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=DEV_ISSUER,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise token_error(exc) from exc
        return principal_from_claims(claims)
