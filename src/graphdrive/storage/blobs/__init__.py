"""Content-addressed blob storage: the port (:class:`BlobStore`) and its backends.

:func:`open_blob_store` is the one place a configured URL becomes a backend; a new backend
(S3, …) is added there and to the contract test suite's fixture.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from graphdrive.exceptions import ConfigurationError

from .base import BlobNotFound, BlobStore, StagedBlob
from .local import LocalBlobStore

__all__ = ["BlobNotFound", "BlobStore", "LocalBlobStore", "StagedBlob", "open_blob_store"]


def open_blob_store(url: str) -> BlobStore:
    """The blob store ``url`` names: ``file:///absolute/path`` or a plain filesystem path.

    Raises :class:`~graphdrive.exceptions.ConfigurationError` for any other URL. Nothing is
    touched on disk until the store is first used.
    """
    if not url:
        raise ConfigurationError("the blob store URL is empty")
    parts = urlsplit(url)
    if parts.scheme == "":
        return LocalBlobStore(Path(url))
    if parts.scheme == "file":
        return LocalBlobStore(_file_url_path(url))
    # Only the scheme goes into the message: other URLs may carry credentials.
    raise ConfigurationError(
        f"unsupported blob store URL scheme {parts.scheme!r}: use file:///absolute/path "
        "or a plain path"
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
