"""Content-addressed blob storage: the port (:class:`BlobStore`) and its backends.

:func:`open_blob_store` is the one place a configured URL becomes a backend; a new backend is
added there and to the contract test suite's fixture.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from graphdrive.exceptions import ConfigurationError

from .base import BlobNotFound, BlobStore, StagedBlob
from .local import LocalBlobStore
from .s3 import S3BlobStore
from .s3_config import S3Options, parse_s3_url

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "S3Options",
    "StagedBlob",
    "open_blob_store",
]


def open_blob_store(url: str, *, s3: S3Options | None = None) -> BlobStore:
    """The blob store ``url`` names: ``file:///absolute/path`` or a plain filesystem path, or
    ``s3://bucket/prefix`` reached as ``s3`` says (``None``: boto3's usual AWS sources).

    Raises :class:`~graphdrive.exceptions.ConfigurationError` for any other URL. Nothing is
    touched, on disk or over the network, until the store is first used.
    """
    if not url:
        raise ConfigurationError("the blob store URL is empty")
    parts = urlsplit(url)
    if parts.scheme == "":
        return LocalBlobStore(Path(url))
    if parts.scheme == "file":
        return LocalBlobStore(_file_url_path(url))
    if parts.scheme == "s3":
        bucket, prefix = parse_s3_url(url)
        return S3BlobStore(bucket, prefix, s3)
    # Only the scheme goes into the message: other URLs may carry credentials.
    raise ConfigurationError(
        f"unsupported blob store URL scheme {parts.scheme!r}: use file:///absolute/path, "
        "a plain path, or s3://bucket/prefix"
    )


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigurationError(f"file URL {url!r} names a remote host; only local paths work")
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"file URL {url!r} has a query or fragment; percent-encode ? and #"
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise ConfigurationError(f"file URL {url!r} needs an absolute path: file:///abs/path")
    return Path(path)
