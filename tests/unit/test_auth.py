"""Unit tests of graphdrive.auth: principals, bearer parsing, dev tokens, secrets, JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import graphdrive.auth
from graphdrive.auth import (
    DevTokens,
    JwksVerifier,
    Principal,
    TokenVerifier,
    bearer_token,
    load_or_create_secret,
)
from graphdrive.auth.principal import principal_from_claims
from graphdrive.exceptions import AccessDenied, ConfigurationError, Unauthenticated

REALM = 'Bearer realm="graphdrive"'
INVALID_TOKEN = 'Bearer realm="graphdrive", error="invalid_token"'
SECRET = b"s" * 32
ISSUER = "https://idp.example/tenant/v2.0"
AUDIENCE = "api://graphdrive"
JWKS_URL = "https://idp.example/keys"


def test_public_api_is_pinned() -> None:
    assert sorted(graphdrive.auth.__all__) == [
        "DevTokens",
        "JwksVerifier",
        "Principal",
        "TokenVerifier",
        "bearer_token",
        "load_or_create_secret",
    ]


# --- Principal -----------------------------------------------------------------------------


def principal(*scopes: str) -> Principal:
    return Principal(user_id="u1", display_name="User", scopes=frozenset(scopes))


@pytest.mark.parametrize(
    ("scopes", "can_read", "can_write"),
    [
        ((), False, False),
        (("User.Read",), False, False),
        (("Files.Read",), True, False),
        (("files.read.all",), True, False),
        (("Files.ReadWrite",), True, True),
        (("FILES.READWRITE.ALL",), True, True),
        (("User.Read", "Files.Read.All"), True, False),
    ],
)
def test_principal_scope_checks(scopes: tuple[str, ...], can_read: bool, can_write: bool) -> None:
    p = principal(*scopes)
    assert (p.can_read, p.can_write) == (can_read, can_write)


def test_require_read_and_write_raise_access_denied() -> None:
    reader = principal("Files.Read")
    reader.require_read()
    with pytest.raises(AccessDenied, match=r"^The token's scopes do not allow writing"):
        reader.require_write()
    with pytest.raises(AccessDenied, match=r"^The token's scopes do not allow reading"):
        principal("User.Read").require_read()
    principal("Files.ReadWrite").require_write()


def test_principal_from_claims_prefers_oid_and_name_and_merges_roles() -> None:
    p = principal_from_claims(
        {
            "oid": "oid-1",
            "sub": "sub-1",
            "name": "Ada",
            "preferred_username": "ada@example.org",
            "scp": "Files.Read  User.Read",
            "roles": ["Files.ReadWrite.All"],
        }
    )
    assert p == Principal(
        "oid-1", "Ada", frozenset({"Files.Read", "User.Read", "Files.ReadWrite.All"})
    )


def test_principal_from_claims_fallbacks() -> None:
    assert principal_from_claims({"sub": "s", "preferred_username": "pu"}) == Principal(
        "s", "pu", frozenset()
    )
    assert principal_from_claims({"sub": "s"}).display_name == "s"
    # A name that cannot be stored gives way to the next candidate.
    assert principal_from_claims({"sub": "s", "name": "n" * 256}).display_name == "s"
    claims = {"sub": "s", "name": "a\x00", "preferred_username": "pu"}
    assert principal_from_claims(claims).display_name == "pu"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"oid": ""},
        {"sub": 7},
        {"sub": "s", "scp": ["a"]},
        {"sub": "s", "roles": "a b"},
        {"sub": "a\x00b"},  # PostgreSQL text cannot hold NUL
        {"oid": "\udcff"},  # not encodable as UTF-8
        {"oid": "u" * 256},  # user ids are stored as VARCHAR(255)
    ],
)
def test_principal_from_claims_rejects_bad_claims(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated) as info:
        principal_from_claims(claims)
    assert info.value.headers == {"WWW-Authenticate": INVALID_TOKEN}


# --- bearer_token --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER   abc.def.ghi  "]
)
def test_bearer_token_parses(header: str) -> None:
    assert bearer_token(header) == "abc.def.ghi"


@pytest.mark.parametrize(
    "header", [None, "", "   ", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer a b", "abc"]
)
def test_bearer_token_rejects(header: str | None) -> None:
    with pytest.raises(Unauthenticated) as info:
        bearer_token(header)
    assert info.value.headers == {"WWW-Authenticate": REALM}
    assert info.value.status == 401


# --- DevTokens -----------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hs256(key: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(key, data, hashlib.sha256).digest()


async def test_dev_token_round_trip() -> None:
    tokens = DevTokens(SECRET)
    token = tokens.issue("alice", scopes=["Files.Read", "Files.ReadWrite"])
    p = await tokens.verify(token)
    assert p == Principal("alice", "alice", frozenset({"Files.Read", "Files.ReadWrite"}))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == claims["oid"] == claims["name"] == "alice"
    assert claims["scp"] == "Files.Read Files.ReadWrite"
    assert claims["iss"] == "graphdrive-dev"
    assert claims["exp"] - claims["iat"] == 30 * 24 * 60 * 60
    assert abs(claims["iat"] - time.time()) < 5


async def test_dev_token_defaults_to_read_write_and_accepts_scope_string() -> None:
    tokens = DevTokens(SECRET)
    assert (await tokens.verify(tokens.issue("bob"))).can_write
    assert (await tokens.verify(tokens.issue("bob", "Files.Read User.Read"))).scopes == {
        "Files.Read",
        "User.Read",
    }


def test_dev_tokens_satisfy_the_verifier_port_and_hide_the_secret() -> None:
    verifier: TokenVerifier = DevTokens(SECRET)
    assert SECRET.decode() not in repr(verifier)
    with pytest.raises(ConfigurationError):
        DevTokens(b"")


@pytest.mark.parametrize(
    ("user", "scopes", "ttl"),
    [
        ("", ("Files.Read",), 60),
        ("   ", ("Files.Read",), 60),
        ("a", ("Files Read",), 60),
        ("a", ("",), 60),
        ("a", ("Files.Read",), 0),
    ],
)
def test_dev_token_issue_rejects_bad_input(user: str, scopes: tuple[str, ...], ttl: int) -> None:
    with pytest.raises(ValueError):
        DevTokens(SECRET).issue(user, scopes, ttl_seconds=ttl)


async def assert_rejected(verifier: TokenVerifier, token: str, match: str | None = None) -> None:
    with pytest.raises(Unauthenticated, match=match) as info:
        await verifier.verify(token)
    assert info.value.headers == {"WWW-Authenticate": INVALID_TOKEN}


def dev_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "graphdrive-dev", "sub": "alice", "iat": now, "exp": now + 60}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_dev_token_expired() -> None:
    now = int(time.time())
    token = jwt.encode(dev_claims(iat=now - 120, exp=now - 60), SECRET, algorithm="HS256")
    await assert_rejected(DevTokens(SECRET), token, "expired")


async def test_dev_token_wrong_secret() -> None:
    token = DevTokens(b"x" * 32).issue("alice")
    await assert_rejected(DevTokens(SECRET), token, "signature")


async def test_dev_token_tampered() -> None:
    tokens = DevTokens(SECRET)
    header, payload, signature = tokens.issue("alice", ["Files.Read"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scp"] = "Files.ReadWrite.All"
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    await assert_rejected(tokens, forged, "signature")


async def test_dev_token_alg_none_rejected() -> None:
    token = raw_token({"alg": "none", "typ": "JWT"}, dev_claims(), lambda _: b"")
    await assert_rejected(DevTokens(SECRET), token, "algorithm")


@pytest.mark.parametrize(
    "claims", [dev_claims(iss="someone-else"), dev_claims(exp=None), dev_claims(sub=None)]
)
async def test_dev_token_wrong_issuer_or_missing_claims(claims: dict[str, Any]) -> None:
    await assert_rejected(DevTokens(SECRET), jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "ey.ey.ey", "é.é.é"])
async def test_dev_token_garbage(token: str) -> None:
    await assert_rejected(DevTokens(SECRET), token)


# --- load_or_create_secret -----------------------------------------------------------------


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = load_or_create_secret(data_dir, None)
    path = data_dir / "jwt-secret"
    assert len(secret) == 32
    assert bytes.fromhex(path.read_text().strip()) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(data_dir, None) == secret
    assert sorted(p.name for p in data_dir.iterdir()) == ["jwt-secret"]


def test_env_secret_wins_and_creates_no_file(tmp_path: Path) -> None:
    assert (
        load_or_create_secret(tmp_path, "from-the-environment" * 2) == b"from-the-environment" * 2
    )
    assert not (tmp_path / "jwt-secret").exists()


def test_short_env_secret_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="graphdrive.auth"):
        assert load_or_create_secret(tmp_path, "tiny-s3cr3t") == b"tiny-s3cr3t"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "tiny-s3cr3t" not in caplog.text  # never log the secret itself


def test_empty_env_secret_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_or_create_secret(tmp_path, "")


@pytest.mark.parametrize("content", ["not hex\n", "", "\n"])
def test_unreadable_secret_file_is_a_configuration_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "jwt-secret").write_text(content)
    with pytest.raises(ConfigurationError):
        load_or_create_secret(tmp_path, None)


def test_secret_creation_race_adopts_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    winner = bytes(range(32))
    real_link = os.link

    def link_after_another_process(src: str, dst: str) -> None:
        Path(dst).write_text(winner.hex() + "\n")  # the other process linked first
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_another_process)
    assert load_or_create_secret(tmp_path, None) == winner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt-secret"]  # temp file removed


def test_concurrent_creation_yields_one_secret(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[bytes] = []

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_secret(tmp_path, None))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt-secret"]


# --- JwksVerifier --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


def jwk(key: rsa.RSAPrivateKey, kid: str | None) -> dict[str, Any]:
    data: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    data.update(use="sig", alg="RS256")
    if kid is not None:
        data["kid"] = kid
    return data


def jwks(*entries: tuple[rsa.RSAPrivateKey, str | None]) -> dict[str, Any]:
    return {"keys": [jwk(key, kid) for key, kid in entries]}


def idp_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "sub": "pairwise-sub",
        "oid": "00000000-0000-0000-0000-00000000000a",
        "name": "Ada Lovelace",
        "scp": "Files.ReadWrite User.Read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def rs256(key: rsa.RSAPrivateKey, kid: str | None = "k1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(idp_claims(**overrides), key, algorithm="RS256", headers=headers)


def file_verifier(
    tmp_path: Path,
    document: dict[str, Any],
    *,
    issuer: str | None = ISSUER,
    audience: str | None = AUDIENCE,
) -> JwksVerifier:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    return JwksVerifier(jwks_file=path, issuer=issuer, audience=audience)


async def test_jwks_round_trip(tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1"), (rsa_keys[1], "k2")))
    p = await verifier.verify(rs256(rsa_keys[1], "k2", roles=["Files.Read.All"]))
    assert p == Principal(
        "00000000-0000-0000-0000-00000000000a",
        "Ada Lovelace",
        frozenset({"Files.ReadWrite", "User.Read", "Files.Read.All"}),
    )


async def test_jwks_claim_fallbacks(tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    token = rs256(rsa_keys[0], oid=None, name=None, preferred_username="ada@example.org")
    p = await verifier.verify(token)
    assert (p.user_id, p.display_name) == ("pairwise-sub", "ada@example.org")


async def test_jwks_token_without_kid_needs_a_single_key(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    token = rs256(rsa_keys[0], kid=None)
    assert (await file_verifier(tmp_path, jwks((rsa_keys[0], "k1"))).verify(token)).can_write
    two = file_verifier(tmp_path, jwks((rsa_keys[0], "k1"), (rsa_keys[1], "k2")))
    await assert_rejected(two, token, "signing key")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"iss": "https://evil.example/"}, "issuer"),
        ({"aud": "api://someone-else"}, "audience"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "'exp'"),
        ({"aud": None}, "'aud'"),
        ({"iss": None}, "'iss'"),
    ],
)
async def test_jwks_rejects_bad_claims(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey], overrides: dict[str, Any], match: str
) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    await assert_rejected(verifier, rs256(rsa_keys[0], **overrides), match)


async def test_jwks_unchecked_issuer_and_audience(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")), issuer=None, audience=None)
    token = rs256(rsa_keys[0], iss="https://any.example/", aud="anything")
    assert (await verifier.verify(token)).user_id.endswith("a")


async def test_jwks_unknown_kid(tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    await assert_rejected(verifier, rs256(rsa_keys[0], "k9"), "signing key")


async def test_jwks_wrong_key_under_a_known_kid(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    await assert_rejected(verifier, rs256(rsa_keys[2], "k1"), "signature")


async def test_jwks_rejects_hs256_signed_with_the_public_key(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    public_pem = (
        rsa_keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    token = raw_token({"alg": "HS256", "typ": "JWT", "kid": "k1"}, idp_claims(), hs256(public_pem))
    await assert_rejected(verifier, token, "algorithm")


async def test_jwks_rejects_alg_none(tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    verifier = file_verifier(tmp_path, jwks((rsa_keys[0], "k1")))
    token = raw_token({"alg": "none", "kid": "k1"}, idp_claims(), lambda _: b"")
    await assert_rejected(verifier, token, "algorithm")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
async def test_jwks_rejects_garbage(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey], token: str
) -> None:
    await assert_rejected(file_verifier(tmp_path, jwks((rsa_keys[0], "k1"))), token)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"jwks_file": Path("k.json"), "jwks_url": JWKS_URL},
        {"jwks_url": "ftp://idp.example/keys"},
        {"jwks_url": JWKS_URL, "cache_seconds": -1},
    ],
)
def test_jwks_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        JwksVerifier(issuer=None, audience=None, **kwargs)


async def test_jwks_missing_file_is_unauthenticated_and_logged(
    tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey], caplog: pytest.LogCaptureFixture
) -> None:
    verifier = JwksVerifier(jwks_file=tmp_path / "absent.json", issuer=None, audience=None)
    with (
        caplog.at_level(logging.WARNING, logger="graphdrive.auth"),
        pytest.raises(Unauthenticated, match="could not be loaded") as info,
    ):
        await verifier.verify(rs256(rsa_keys[0]))
    assert info.value.headers == {"WWW-Authenticate": REALM}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


async def test_jwks_without_usable_keys(tmp_path: Path, rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    document = {"keys": [{"kty": "EC", "kid": "e"}, {**jwk(rsa_keys[0], "k1"), "use": "enc"}]}
    with pytest.raises(Unauthenticated, match="could not be loaded"):
        await file_verifier(tmp_path, document).verify(rs256(rsa_keys[0]))


class FakeIdp:
    """A JWKS endpoint for httpx.MockTransport that counts its calls."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls = 0
        self.fail: Exception | int | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert str(request.url) == JWKS_URL
        if isinstance(self.fail, Exception):
            raise self.fail
        if isinstance(self.fail, int):
            return httpx.Response(self.fail, text="oops")
        return httpx.Response(200, json=self.document)

    def verifier(self, cache_seconds: int = 300) -> JwksVerifier:
        return JwksVerifier(
            jwks_url=JWKS_URL,
            issuer=ISSUER,
            audience=AUDIENCE,
            cache_seconds=cache_seconds,
            transport=httpx.MockTransport(self.handler),
        )


async def test_jwks_url_is_cached(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    verifier = idp.verifier()
    for _ in range(3):
        await verifier.verify(rs256(rsa_keys[0]))
    assert idp.calls == 1


async def test_jwks_cache_expiry_refetches(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    verifier = idp.verifier(cache_seconds=0)
    for _ in range(3):
        await verifier.verify(rs256(rsa_keys[0]))
    assert idp.calls == 3


async def test_jwks_key_rotation_refetches_once(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    verifier = idp.verifier()
    await verifier.verify(rs256(rsa_keys[0], "k1"))
    assert idp.calls == 1

    idp.document = jwks((rsa_keys[1], "k2"))  # the provider rotates its signing key
    assert (await verifier.verify(rs256(rsa_keys[1], "k2"))).can_write
    assert idp.calls == 2
    await verifier.verify(rs256(rsa_keys[1], "k2"))
    assert idp.calls == 2

    # Made-up kids right after a rotation cannot make us hammer the provider.
    for kid in ("x1", "x2", "x3"):
        await assert_rejected(verifier, rs256(rsa_keys[1], kid), "signing key")
    assert idp.calls == 2


async def test_jwks_unknown_kid_refetches_once_then_fails(
    rsa_keys: list[rsa.RSAPrivateKey],
) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    verifier = idp.verifier()
    await assert_rejected(verifier, rs256(rsa_keys[0], "k9"), "signing key")
    assert idp.calls == 2  # the initial load and one re-fetch


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow"), 500, 404]
)
async def test_jwks_unreachable_is_unauthenticated_and_logged(
    rsa_keys: list[rsa.RSAPrivateKey], caplog: pytest.LogCaptureFixture, failure: Exception | int
) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    idp.fail = failure
    verifier = idp.verifier()
    with caplog.at_level(logging.WARNING, logger="graphdrive.auth"):
        with pytest.raises(Unauthenticated, match="could not be loaded") as info:
            await verifier.verify(rs256(rsa_keys[0]))
        # Within the retry delay further requests fail fast instead of waiting on the provider.
        with pytest.raises(Unauthenticated, match="could not be loaded"):
            await verifier.verify(rs256(rsa_keys[0]))
    assert idp.calls == 1
    assert info.value.headers == {"WWW-Authenticate": REALM}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert JWKS_URL in warnings[0].getMessage()


async def test_jwks_invalid_json_is_unauthenticated(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>not json</html>")

    verifier = JwksVerifier(
        jwks_url=JWKS_URL, issuer=None, audience=None, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(Unauthenticated, match="could not be loaded"):
        await verifier.verify(rs256(rsa_keys[0]))


async def test_jwks_keeps_previous_keys_when_a_refresh_fails(
    rsa_keys: list[rsa.RSAPrivateKey], caplog: pytest.LogCaptureFixture
) -> None:
    idp = FakeIdp(jwks((rsa_keys[0], "k1")))
    verifier = idp.verifier(cache_seconds=0)
    await verifier.verify(rs256(rsa_keys[0]))
    idp.fail = httpx.ConnectError("down")
    with caplog.at_level(logging.WARNING, logger="graphdrive.auth"):
        assert (await verifier.verify(rs256(rsa_keys[0]))).can_write
    assert idp.calls == 2
    assert "keeping the previous keys" in caplog.text


async def test_jwks_concurrent_cold_start_fetches_once(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    calls = 0

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)
        return httpx.Response(200, json=jwks((rsa_keys[0], "k1")))

    verifier = JwksVerifier(
        jwks_url=JWKS_URL, issuer=None, audience=None, transport=httpx.MockTransport(slow_handler)
    )
    token = rs256(rsa_keys[0])
    results: list[Principal] = []

    async def verify() -> None:
        results.append(await verifier.verify(token))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(verify)
    assert len(results) == 10
    assert calls == 1
