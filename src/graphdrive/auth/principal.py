"""Who is calling: the :class:`Principal`, the verifier port, and the bearer-token parsing.

Nothing here does I/O or knows how a token is signed; :mod:`.tokens` (our own HS256 dev tokens)
and :mod:`.jwks` (an external identity provider's RS256 tokens) both end in
:func:`principal_from_claims`, so the two kinds of token map to a principal the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from graphdrive.domain.names import storable
from graphdrive.exceptions import AccessDenied, Unauthenticated

__all__ = [
    "READ_SCOPES",
    "WRITE_SCOPES",
    "Principal",
    "TokenVerifier",
    "bearer_token",
    "invalid_token",
    "principal_from_claims",
    "unauthenticated",
]

# Graph's delegated (scp) and application (roles) permissions for files, compared lower-cased
# because Azure AD does not promise a case and Graph itself matches them case-insensitively.
WRITE_SCOPES = frozenset({"files.readwrite", "files.readwrite.all"})
READ_SCOPES = frozenset({"files.read", "files.read.all"}) | WRITE_SCOPES

_REALM = 'Bearer realm="graphdrive"'
MAX_IDENTITY_LENGTH = 255  # user ids and display names are stored as VARCHAR(255)


def unauthenticated(message: str) -> Unauthenticated:
    """A 401 for a request that carries no usable credentials (RFC 6750 §3: no error code)."""
    return Unauthenticated(message, headers={"WWW-Authenticate": _REALM})


def invalid_token(message: str) -> Unauthenticated:
    """A 401 for a token that is expired, forged, malformed or otherwise not acceptable."""
    return Unauthenticated(
        message, headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'}
    )


def _insufficient_scope(message: str, needed: str) -> AccessDenied:
    header = f'{_REALM}, error="insufficient_scope", scope="{needed}"'
    return AccessDenied(message, headers={"WWW-Authenticate": header})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a stable id, a name to show, and the granted scopes."""

    user_id: str
    display_name: str
    scopes: frozenset[str]

    @property
    def can_read(self) -> bool:
        return any(scope.lower() in READ_SCOPES for scope in self.scopes)

    @property
    def can_write(self) -> bool:
        return any(scope.lower() in WRITE_SCOPES for scope in self.scopes)

    def require_read(self) -> None:
        if not self.can_read:
            raise _insufficient_scope(
                "The token's scopes do not allow reading files (needs Files.Read or higher).",
                "Files.Read",
            )

    def require_write(self) -> None:
        if not self.can_write:
            raise _insufficient_scope(
                "The token's scopes do not allow writing files (needs Files.ReadWrite).",
                "Files.ReadWrite",
            )


class TokenVerifier(Protocol):
    """The one port the API needs: turn a bearer token into a principal or raise.

    Implementations raise :class:`~graphdrive.exceptions.Unauthenticated` for every token they
    do not accept, and never let a library exception escape.
    """

    async def verify(self, token: str) -> Principal: ...


def bearer_token(authorization_header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header value.

    The scheme is matched case-insensitively (RFC 7235 §2.1); a missing header, another
    scheme, or anything but exactly one token after it is :class:`Unauthenticated`.
    """
    if not authorization_header or not authorization_header.strip():
        raise unauthenticated(
            "Authentication required: send an 'Authorization: Bearer <token>' header."
        )
    parts = authorization_header.split()
    if parts[0].lower() != "bearer":
        raise unauthenticated("Unsupported authorization scheme; use 'Bearer <token>'.")
    if len(parts) != 2:
        raise unauthenticated("Malformed Authorization header; expected 'Bearer <token>'.")
    return parts[1]


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Map verified JWT claims to a :class:`Principal` the way Azure AD tokens are read.

    The id is ``oid`` (stable across applications), else ``sub``; the name is ``name``, else
    ``preferred_username``, else the id; scopes are the space-separated ``scp`` (delegated)
    plus the ``roles`` list (application permissions).
    """
    user_id = _first_text(claims, "oid", "sub")
    if user_id is None:
        raise invalid_token("The token names no user (neither 'oid' nor 'sub').")
    if not _usable(user_id):
        raise invalid_token("The token's user id is too long or holds characters not allowed.")
    names = (_first_text(claims, name) for name in ("name", "preferred_username"))
    display_name = next((n for n in names if n is not None and _usable(n)), user_id)

    scopes: set[str] = set()
    scp = claims.get("scp")
    if scp is not None:
        if not isinstance(scp, str):
            raise invalid_token("The token's 'scp' claim must be a space-separated string.")
        scopes.update(scp.split())
    roles = claims.get("roles")
    if roles is not None:
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise invalid_token("The token's 'roles' claim must be a list of strings.")
        scopes.update(role for role in roles if role)
    return Principal(user_id=user_id, display_name=display_name, scopes=frozenset(scopes))


def _usable(text: str) -> bool:
    return len(text) <= MAX_IDENTITY_LENGTH and storable(text)


def _first_text(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None
