"""Authentication: bearer tokens in, a :class:`Principal` out.

Two verifiers share one interface (:class:`TokenVerifier`): :class:`DevTokens` for tokens this
server issues itself (HS256), :class:`JwksVerifier` for an external identity provider's RS256
tokens. Every rejection is a :class:`~graphdrive.exceptions.Unauthenticated` (401) carrying a
``WWW-Authenticate`` header; missing scopes are :class:`~graphdrive.exceptions.AccessDenied`.
"""

from graphdrive.auth.jwks import JwksVerifier
from graphdrive.auth.principal import Principal, TokenVerifier, bearer_token
from graphdrive.auth.tokens import DevTokens, load_or_create_secret

__all__ = [
    "DevTokens",
    "JwksVerifier",
    "Principal",
    "TokenVerifier",
    "bearer_token",
    "load_or_create_secret",
]
