"""The blob interface: immutable media objects written once, and short-lived ones (playlists) replaced.

Write order is part of the contract: callers write every part and segment before a playlist that
names them, and an implementation must make a completed `put_immutable` visible before it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class BlobExists(Exception):
    """An immutable object was written again with different content."""


def safe_key(key: str) -> str:
    """`key` itself when it is a relative path of plain segments (no empty, `.` or `..` one) that
    cannot escape a store's root or folder; otherwise ValueError. Every implementation checks with it."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe blob key {key!r}")
    return key


class BlobStore(Protocol):
    """`durable` (the default): once a write returns, it survives a crash of the machine (a local store
    syncs it to disk). `durable=False`: it survives a crash of the process, not of the machine; for
    what is written again in a durable form or replaced within a second (a live part, which its
    segment holds again; the live playlist), so a slow disk never delays the live edge."""

    async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        """Write once; writing the same bytes again is a no-op, different bytes raise BlobExists.

        Atomic against concurrent writers of the same key in any process: exactly one write wins
        and every other writer of different bytes gets BlobExists, never a silent overwrite."""

    async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
        """Replace atomically (readers see the old or the new object, never a torn one)."""

    async def get(self, key: str) -> bytes | None: ...
    async def exists(self, key: str) -> bool: ...
    async def list(self, prefix: str) -> list[str]: ...
    async def delete_prefix(self, prefix: str) -> int: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind a key where the store is on this disk (lets the origin use sendfile)."""
