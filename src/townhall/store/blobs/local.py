"""Blobs as files under one directory: the embedded default.

Writes go to a temporary file, are fsynced and renamed into place, so a crash never leaves a torn
part and an accepted part survives the process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from townhall.store.blobs.base import BlobExists


def _safe(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe blob key {key!r}")
    return key


class LocalBlobs:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.root / _safe(key)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)

    def _put_immutable(self, key: str, data: bytes) -> None:
        path = self.local_path(key)
        if path.exists():
            if path.read_bytes() != data:
                raise BlobExists(key)
            return
        self._write(path, data)

    async def put_immutable(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_immutable, key, data)

    async def put_mutable(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.local_path(key), data)

    async def get(self, key: str) -> bytes | None:
        path = self.local_path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            return None

    async def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    async def list(self, prefix: str) -> list[str]:
        def walk() -> list[str]:
            base = self.root / prefix.rstrip("/") if prefix else self.root
            if not base.exists():
                return []
            return sorted(
                str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
            )

        return await asyncio.to_thread(walk)

    async def delete_prefix(self, prefix: str) -> int:
        def rm() -> int:
            base = self.root / _safe(prefix.rstrip("/"))
            if not base.exists():
                return 0
            n = sum(1 for p in base.rglob("*") if p.is_file())
            shutil.rmtree(base)
            return n

        return await asyncio.to_thread(rm)
