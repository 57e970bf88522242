"""The blob interface: immutable media objects written once, and short-lived ones (playlists) replaced.

Write order is part of the contract: callers write every part and segment before a playlist that
names them, and an implementation must make a completed `put_immutable` visible before it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class BlobExists(Exception):
    """An immutable object was written again with different content."""


class BlobStore(Protocol):
    async def put_immutable(self, key: str, data: bytes) -> None:
        """Write once; writing the same bytes again is a no-op, different bytes raise BlobExists."""

    async def put_mutable(self, key: str, data: bytes) -> None:
        """Replace atomically (readers see the old or the new object, never a torn one)."""

    async def get(self, key: str) -> bytes | None: ...
    async def exists(self, key: str) -> bool: ...
    async def list(self, prefix: str) -> list[str]: ...
    async def delete_prefix(self, prefix: str) -> int: ...

    def local_path(self, key: str) -> Path | None:
        """The file behind a key where the store is on this disk (lets the origin use sendfile)."""
