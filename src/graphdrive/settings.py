"""Settings: one frozen object read from ``GRAPHDRIVE_*`` variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting graphdrive reads. Each one is documented in ``docs/deploy.md``."""

    model_config = SettingsConfigDict(env_prefix="GRAPHDRIVE_", frozen=True, extra="ignore")

    data_dir: Path = Path(".graphdrive")
    host: str = "127.0.0.1"
    port: int = 8080
    # Base URL clients see (absolute links: nextLink, downloadUrl, Location). Defaults to the
    # URL the request arrived on.
    public_url: str | None = None

    database_url: str | None = None  # default: sqlite under data_dir
    blob_url: str | None = None  # default: file:// under data_dir

    # Object storage, for blob_url=s3://bucket/prefix. Each unset value falls back to boto3's
    # usual sources (AWS_* variables, ~/.aws, instance roles); the endpoint defaults to AWS.
    s3_endpoint_url: str | None = None  # e.g. http://127.0.0.1:8333 for SeaweedFS or MinIO
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_session_token: SecretStr | None = None
    # Default: "path" when s3_endpoint_url is set (what S3-compatible servers expect), else
    # boto3's own choice.
    s3_addressing_style: Literal["auto", "path", "virtual"] | None = None
    # Download URLs redirect (302) to presigned object-store URLs, so content bypasses the API
    # processes; the store must then be reachable by clients, at s3_public_endpoint_url if that
    # differs from s3_endpoint_url. Off: graphdrive streams content itself.
    s3_presigned_downloads: bool = False
    s3_public_endpoint_url: str | None = None

    jwt_secret: SecretStr | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    max_upload_bytes: int = Field(default=4 * 1024**3, ge=0)
    download_url_ttl_seconds: int = Field(default=3600, gt=0)
    drive_quota_bytes: int = Field(default=1024**4, gt=0)
    page_size: int = Field(default=200, gt=0)
    max_page_size: int = Field(default=1000, gt=0)

    # Long-running actions.
    workers: int = Field(default=2, ge=0)
    monitor_url: str | None = None
    monitor_port: int | None = None
    monitor_retention_seconds: int = Field(default=24 * 3600, gt=0)
    # Status code of finished monitor reports: 202 (as the seed shows), 200, or 303 → item.
    monitor_finished_status: int = 202
    # Items per copy batch. Unset: adaptive, sized for about a quarter second of work each.
    copy_batch_size: int | None = Field(default=None, gt=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    # Claims per operation, rescues after a crash included: a poison operation must end.
    max_attempts: int = Field(default=10, gt=0)
    max_active_operations_per_user: int = Field(default=4, gt=0)

    # Per-user request rate (requests per minute, per API process); 0 turns throttling off.
    rate_limit_per_minute: int = Field(default=0, ge=0)

    log_level: str = "info"

    @field_validator("monitor_finished_status")
    @classmethod
    def _finished_status(cls, value: int) -> int:
        if value not in (200, 202, 303):
            raise ValueError("must be 200, 202 or 303")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'graphdrive.db'}"

    @property
    def resolved_blob_url(self) -> str:
        if self.blob_url:
            return self.blob_url
        return f"file://{self.data_dir.resolve() / 'blobs'}"
