"""S3 (moto/LocalStack stand-in): boto3 run in a worker thread, path-style, explicit endpoint only."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .guard import Guard

T = TypeVar("T")
log = logging.getLogger("inventario_dashboard.s3")


class S3NotConfigured(RuntimeError):
    """S3_ENDPOINT_URL is empty: the dashboard never falls back to real AWS."""


def _is_real_aws(endpoint: str) -> bool:
    host = (urlparse(endpoint).hostname or "").lower()
    return host == "amazonaws.com" or host.endswith(".amazonaws.com")


class _Missing:
    """A 404 carried out of the breaker: a missing key is not an S3 failure."""


MISSING = _Missing()


class ObjectStore:
    """Guarded bucket operations; the bucket is created on first use (moto keeps no state)."""

    def __init__(self, settings, guard: Guard):
        self.guard = guard
        self.bucket = settings.s3_bucket_name
        self.endpoint = (settings.s3_endpoint_url or "").strip()
        self._client = None
        if self.endpoint and not _is_real_aws(self.endpoint):
            timeout = float(settings.s3_timeout)
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name=settings.aws_default_region,
                aws_access_key_id=settings.aws_access_key_id.get_secret_value(),
                aws_secret_access_key=settings.aws_secret_access_key.get_secret_value(),
                config=Config(s3={"addressing_style": "path"}, connect_timeout=timeout,
                              read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"}))

    @property
    def endpoint_in_use(self) -> str | None:
        """The URL the boto3 client sends to (its own, not the setting), None when unconfigured."""
        return self._client.meta.endpoint_url if self._client is not None else None

    @property
    def client(self):
        if self._client is None:
            raise S3NotConfigured("S3_ENDPOINT_URL is empty or points at AWS; this dashboard only "
                                  "talks to an S3 stand-in")
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)

    async def _thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    def _ensure_bucket_sync(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.bucket)
            log.info("created bucket %s", self.bucket)

    async def probe(self) -> None:
        """Health probe: head_bucket (creating the bucket when the stand-in lost it)."""
        await self._thread(self._ensure_bucket_sync)

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        def run():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        await self.guard.call(lambda: self._thread(run))

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and content type, or None when the key does not exist."""
        def run():
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return MISSING
                raise
            return obj["Body"].read(), obj.get("ContentType") or "application/octet-stream"
        result = await self.guard.read(lambda: self._thread(run))
        return None if result is MISSING else result
