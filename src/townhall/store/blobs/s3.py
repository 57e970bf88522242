"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Garage): the scaled-out form of `base.BlobStore`.

Immutable objects are written with a conditional PUT (`If-None-Match: *`), so the bucket itself
decides which of two writers wins and nothing is ever overwritten. Driver errors never cross this
module: a bucket that cannot be reached is `Unavailable` (answered 503), like a lost Redis.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, NotFoundError, PreconditionError
from obstore.store import S3Store

from townhall.domain.errors import Unavailable
from townhall.store.blobs.base import BlobExists, safe_key

if TYPE_CHECKING:
    from obstore.store import S3Config

log = logging.getLogger("townhall.blobs")
DELETE_BATCH = 1000  # keys per DeleteObjects request (the S3 maximum)
RETRY_AFTER_S = 1.0  # what a client is told to wait when the bucket cannot be reached
# what the driver raises for a bucket it cannot reach (a missing object is FileNotFoundError, caught first)
_DRIVER_ERRORS = (BaseError, OSError)


def _unavailable(op: str, key: str, exc: BaseException) -> Unavailable:
    log.warning("blob store: %s %s failed: %s", op, key, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return Unavailable("blobs_unavailable", "the media store is not answering; retry shortly", RETRY_AFTER_S)


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix/...` as (bucket, prefix without slashes at its ends)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"TOWNHALL_BLOB_URL: expected s3://bucket/prefix, got {url!r}")
    prefix = parts.path.strip("/")
    if prefix:
        safe_key(prefix)
    return parts.netloc, prefix


class S3Blobs:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        timeout_s: float = 10.0,
        retries: int = 2,
    ) -> None:
        config: S3Config = {"region": region}
        if endpoint:
            config["endpoint"] = endpoint
        if access_key_id:  # otherwise the driver's own AWS chain (AWS_* variables, instance profile)
            config["access_key_id"], config["secret_access_key"] = access_key_id, secret_access_key
        self.bucket, self.prefix = bucket, prefix
        self._store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": timedelta(seconds=min(timeout_s, 5.0)),
                "timeout": timedelta(seconds=timeout_s),
            },
            retry_config={
                "max_retries": retries,
                "retry_timeout": timedelta(seconds=timeout_s),
                "backoff": {"init_backoff": timedelta(milliseconds=50), "max_backoff": timedelta(seconds=1), "base": 2},
            },
        )

    @classmethod
    def from_url(cls, url: str, **options: object) -> S3Blobs:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, **options)  # type: ignore[arg-type]

    def local_path(self, key: str) -> Path | None:
        return None

    async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        safe_key(key)  # a completed PUT is durable: `durable` asks nothing more of a bucket
        try:
            await obstore.put_async(self._store, key, data, mode="create")
            return
        except (AlreadyExistsError, PreconditionError):
            pass
        except _DRIVER_ERRORS as exc:
            raise _unavailable("put", key, exc) from exc
        if await self.get(key) != data:
            raise BlobExists(key)

    async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
        safe_key(key)
        try:  # an S3 PUT replaces the whole object at once: readers see the old one or the new one
            await obstore.put_async(self._store, key, data, mode="overwrite")
        except _DRIVER_ERRORS as exc:
            raise _unavailable("put", key, exc) from exc

    async def get(self, key: str) -> bytes | None:
        safe_key(key)
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (FileNotFoundError, NotFoundError):
            return None
        except _DRIVER_ERRORS as exc:
            raise _unavailable("get", key, exc) from exc

    async def exists(self, key: str) -> bool:
        safe_key(key)
        try:
            await obstore.head_async(self._store, key)
            return True
        except (FileNotFoundError, NotFoundError):
            return False
        except _DRIVER_ERRORS as exc:
            raise _unavailable("head", key, exc) from exc

    async def list(self, prefix: str) -> list[str]:
        folder = prefix.rstrip("/")
        if folder:
            safe_key(folder)
        try:
            found = await obstore.list(self._store, prefix=folder or None).collect_async()
        except _DRIVER_ERRORS as exc:
            raise _unavailable("list", prefix, exc) from exc
        return sorted(meta["path"] for meta in found)

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(safe_key(prefix.rstrip("/")))
        try:
            for i in range(0, len(keys), DELETE_BATCH):
                await obstore.delete_async(self._store, keys[i : i + DELETE_BATCH])
        except _DRIVER_ERRORS as exc:
            raise _unavailable("delete", prefix, exc) from exc
        return len(keys)
