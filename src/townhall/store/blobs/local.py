"""Blobs as files under one directory: the embedded default.

Writes go to a temporary file of their own, are fsynced and then linked (immutable: fails if the
name exists, so two writers of one key cannot both win) or renamed (mutable) into place, so a crash
never leaves a torn part and an accepted part survives the process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from townhall.store.blobs.base import BlobExists, safe_key


class LocalBlobs:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        return self.root / safe_key(key)

    def _temporary(self, path: Path, data: bytes, durable: bool = True) -> Path:
        """A complete copy of `data` beside `path` (synced to disk when `durable`), under a name no
        other writer uses (hidden: `list` skips it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with open(fd, "wb") as f:
                f.write(data)
                if self.fsync and durable:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def _write(self, path: Path, data: bytes, durable: bool = True) -> None:
        os.replace(self._temporary(path, data, durable), path)

    def _put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        path = self.local_path(key)
        if path.exists():
            self._same_or_raise(key, path, data)
            return
        tmp = self._temporary(path, data, durable)
        try:
            os.link(tmp, path)  # atomic create-if-absent: a concurrent writer of this key gets FileExistsError
        except FileExistsError:
            self._same_or_raise(key, path, data)
        finally:
            os.unlink(tmp)

    @staticmethod
    def _same_or_raise(key: str, path: Path, data: bytes) -> None:
        if path.read_bytes() != data:
            raise BlobExists(key)

    async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        await asyncio.to_thread(self._put_immutable, key, data, durable)

    async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
        await asyncio.to_thread(self._write, self.local_path(key), data, durable)

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
            base = self.root / safe_key(prefix.rstrip("/"))
            if not base.exists():
                return 0
            n = sum(1 for p in base.rglob("*") if p.is_file())
            shutil.rmtree(base)
            return n

        return await asyncio.to_thread(rm)
