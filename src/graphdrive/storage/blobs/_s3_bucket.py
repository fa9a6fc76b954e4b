"""The S3 requests behind :class:`~graphdrive.storage.blobs.s3.S3BlobStore`, blocking.

S3's "not found" answers become ``None`` (or nothing to list) here; every other botocore error
propagates for the store to translate. boto3 is imported on first use (it costs half a second
of start-up), and one client serves every worker thread: boto3 clients are thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from graphdrive.exceptions import StorageError

if TYPE_CHECKING:
    from .s3_config import S3Options

log = logging.getLogger(__name__)

COPY_LIMIT = 5 << 30  # the largest object one CopyObject may copy; above it, UploadPartCopy
COPY_PART = 512 << 20
_MAX_PARTS = 10_000
_DELETE_BATCH = 1_000  # DeleteObjects takes at most this many keys
_POOL = 32  # HTTP connections kept per client (botocore's default of 10 starves threads)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_OURS_ALREADY = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})

_T = TypeVar("_T")


class RangeNotSatisfiable(Exception):
    """GetObject answered 416: the range starts at or past the end of the object."""


@dataclass(frozen=True, slots=True)
class Listed:
    key: str
    size: int
    modified: datetime


class Bucket:
    """One bucket, through one lazily made client. Every method blocks."""

    def __init__(self, name: str, options: S3Options) -> None:
        self.name = name
        self._options = options
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _make_client(self._options)
        return self._client

    # -- objects --------------------------------------------------------------------------
    def head(self, key: str) -> int | None:
        """The size of object ``key``, or ``None`` if there is none."""
        try:
            response = self.client().head_object(Bucket=self.name, Key=key)
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return int(response["ContentLength"])

    def get(self, key: str, start: int, end: int | None) -> tuple[Any, int] | None:
        """Open bytes ``[start, end)`` of ``key`` (``end=None``: to its end, possibly beyond
        it); return the body stream and the object's size, or ``None`` if it is missing."""
        ranged: dict[str, str] = {}
        if start or end is not None:
            ranged["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self.client().get_object(Bucket=self.name, Key=key, **ranged)
        except Exception as exc:
            code = _code(exc)
            if code in _MISSING:
                return None
            if code == "InvalidRange" or _status(exc) == 416:
                raise RangeNotSatisfiable(key) from exc
            raise
        body = response["Body"]
        if not ranged:
            return body, int(response["ContentLength"])
        total = str(response.get("ContentRange") or "").rpartition("/")[2]
        if not total.isdigit():
            body.close()
            raise StorageError(f"S3 answered a ranged read of {key} without the object's size")
        return body, int(total)

    def get_small(self, key: str) -> bytes | None:
        opened = self.get(key, 0, None)
        if opened is None:
            return None
        body = opened[0]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def presign_get(self, key: str, *, expires_in: int, disposition: str, content_type: str) -> str:
        """A presigned ``GET`` URL (signed locally: no request is made)."""
        params = {
            "Bucket": self.name,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        }
        url = self.client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return str(url)

    def put(self, key: str, data: bytes) -> None:
        self._creating_bucket(
            lambda: self.client().put_object(Bucket=self.name, Key=key, Body=data)
        )

    def delete(self, key: str) -> None:
        try:
            self.client().delete_object(Bucket=self.name, Key=key)
        except Exception as exc:
            if _code(exc) not in _MISSING:
                raise

    def delete_many(self, keys: list[str]) -> None:
        for first in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[first : first + _DELETE_BATCH]]
            try:
                response = self.client().delete_objects(
                    Bucket=self.name, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                if _code(exc) == "NoSuchBucket":
                    return
                raise
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                error = errors[0]
                raise StorageError(
                    f"S3 blob store: could not delete {error.get('Key')}: "
                    f"{error.get('Code')} {error.get('Message', '')}".rstrip()
                )

    def copy(self, source: str, target: str, size: int) -> None:
        """Copy object ``source`` (of ``size`` bytes) to ``target``, inside the store."""
        client = self.client()
        copy_source = {"Bucket": self.name, "Key": source}
        if size <= COPY_LIMIT:
            client.copy_object(Bucket=self.name, Key=target, CopySource=copy_source)
            return
        part = max(COPY_PART, -(-size // _MAX_PARTS))
        upload_id = self.create_upload(target)
        try:
            etags = []
            for number, start in enumerate(range(0, size, part), start=1):
                response = client.upload_part_copy(
                    Bucket=self.name,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{min(start + part, size) - 1}",
                )
                etags.append(str(response["CopyPartResult"]["ETag"]))
            self.complete(target, upload_id, etags)
        except BaseException:
            with contextlib.suppress(Exception):
                self.abort(target, upload_id)
            raise

    # -- multipart uploads ----------------------------------------------------------------
    def create_upload(self, key: str) -> str:
        response = self._creating_bucket(
            lambda: self.client().create_multipart_upload(Bucket=self.name, Key=key)
        )
        return str(response["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = self.client().upload_part(
            Bucket=self.name, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return str(response["ETag"])

    def complete(self, key: str, upload_id: str, etags: list[str]) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        self.client().complete_multipart_upload(
            Bucket=self.name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self.client().abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        except Exception as exc:
            if _code(exc) not in _MISSING | {"NoSuchUpload"}:
                raise

    def uploads(self, prefix: str) -> list[tuple[str, str, datetime]]:
        """Multipart uploads in progress under ``prefix``: (key, upload id, initiated)."""
        found: list[tuple[str, str, datetime]] = []
        markers: dict[str, str] = {}
        while True:
            try:
                response = self.client().list_multipart_uploads(
                    Bucket=self.name, Prefix=prefix, **markers
                )
            except Exception as exc:
                if _code(exc) == "NoSuchBucket":
                    return found
                raise
            for upload in response.get("Uploads", []):
                found.append((upload["Key"], upload["UploadId"], upload["Initiated"]))
            if not response.get("IsTruncated"):
                return found
            markers = {
                "KeyMarker": response["NextKeyMarker"],
                "UploadIdMarker": response["NextUploadIdMarker"],
            }

    # -- listing --------------------------------------------------------------------------
    def list_page(self, prefix: str, page: str | None) -> tuple[list[Listed], str | None]:
        """One page of objects under ``prefix``, and the token of the next (``None``: last)."""
        continuation = {"ContinuationToken": page} if page else {}
        try:
            response = self.client().list_objects_v2(
                Bucket=self.name, Prefix=prefix, **continuation
            )
        except Exception as exc:
            if _code(exc) == "NoSuchBucket":
                return [], None
            raise
        listed = [
            Listed(item["Key"], int(item["Size"]), item["LastModified"])
            for item in response.get("Contents", [])
        ]
        following = response.get("NextContinuationToken")
        return listed, (str(following) if response.get("IsTruncated") and following else None)

    def list_all(self, prefix: str) -> list[Listed]:
        listed, page = self.list_page(prefix, None)
        while page is not None:
            more, page = self.list_page(prefix, page)
            listed.extend(more)
        return listed

    # -- the bucket itself ----------------------------------------------------------------
    def _creating_bucket(self, call: Callable[[], _T]) -> _T:
        """Run a write; if the bucket does not exist yet, create it and run the write again."""
        try:
            return call()
        except Exception as exc:
            if _code(exc) != "NoSuchBucket":
                raise
        client = self.client()
        region = client.meta.region_name
        location = {}
        if region and region != "us-east-1":
            location = {"CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            client.create_bucket(Bucket=self.name, **location)
            log.info("created bucket %s", self.name, extra={"action": "s3_bucket_created"})
        except Exception as exc:
            if _code(exc) not in _OURS_ALREADY:
                raise
        return call()


def _make_client(options: S3Options) -> Any:
    import boto3
    from botocore.config import Config

    style = options.addressing_style or ("path" if options.endpoint_url else "auto")
    config = Config(
        # SigV4 everywhere, presigned URLs included (botocore would presign with SigV2, which
        # S3-compatible servers reject once response-* parameters are signed too).
        signature_version="s3v4",
        s3={"addressing_style": style},
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=_POOL,
        # graphdrive computes its own digests, and S3-compatible servers differ in their support
        # for the extra checksums newer botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=options.endpoint_url,
        region_name=options.region,
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        aws_session_token=options.session_token,
        config=config,
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
