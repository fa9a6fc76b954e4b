"""Where an S3 blob store is (``s3://bucket/prefix``) and how to reach it (:class:`S3Options`).

Kept apart from the store (``s3.py``) and its bucket client (``_s3_bucket.py``), which both
need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from graphdrive.exceptions import ConfigurationError

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach the object store. ``None`` leaves a value to boto3's usual sources
    (``AWS_*`` variables, ``~/.aws``, instance roles); the endpoint defaults to AWS.
    ``addressing_style`` defaults to ``"path"`` when ``endpoint_url`` is set (what
    S3-compatible servers expect), else to boto3's choice."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: Literal["auto", "path", "virtual"] | None = None
    # Downloads redirect to presigned object URLs instead of streaming through graphdrive;
    # signed for public_endpoint_url when clients reach the store at another address.
    presigned_downloads: bool = False
    public_endpoint_url: str | None = None


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``. Error messages never repeat
    the URL: a mistaken one may carry credentials."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigurationError("an S3 blob store URL starts with s3://")
    if "@" in parts.netloc:
        raise ConfigurationError(
            "an s3:// URL must not carry credentials: set GRAPHDRIVE_S3_ACCESS_KEY_ID and "
            "GRAPHDRIVE_S3_SECRET_ACCESS_KEY (or the usual AWS_* variables) instead"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError("an s3:// URL takes no query or fragment: s3://bucket/prefix")
    if _BUCKET.fullmatch(parts.netloc) is None:
        raise ConfigurationError(
            f"an s3:// URL names a bucket: s3://bucket/prefix (got {parts.netloc!r})"
        )
    segments = [s for s in unquote(parts.path).split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ConfigurationError("an s3:// URL prefix may not contain . or .. segments")
    return parts.netloc, "/".join(segments)
