"""A media node's blob writes through a local spool: written to this node's disk first, uploaded to the
shared store (S3 or a shared folder) in the background, in write order, retried with backoff while the
store fails, and deleted locally only once the store confirmed the upload.

Why: a live space must not stop because the store is slow or away. The programme's part is durable
(fsynced here) and relayed to listeners at once; the recording reaches the store when it answers again.
What stays true:
- the store never holds a playlist naming an object it does not hold: uploads leave in write order, and
  a playlist replaced while waiting moves to the back of the queue;
- nothing is deleted locally before its upload is confirmed; an object the store refuses (different
  bytes under its key: `BlobExists`) is set aside under `.conflicts/`, never deleted, and alarmed;
- objects of a live space go out only while `may_upload` allows (the node holds the space's lease), so a
  node that lost a space writes nothing more of it; they wait (held back) and go out if it claims it again;
- a restarted node finds the spooled objects on disk and uploads them under the same rule;
- uploads run on the loop of the writer in their own task: the audio clock never waits for the store.

Alarms: `townhall_blob_upload_backlog` (objects waiting), `townhall_blob_upload_backlog_bytes`,
`townhall_blob_upload_oldest_seconds` (age of the oldest waiting object), `townhall_blob_upload_failures_total`,
`townhall_blob_upload_conflicts_total`, `townhall_blob_spool_held_back` (objects of spaces this node does not
hold); a warning line per failed attempt (one per backoff, at most every few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from townhall.store.blobs.base import BlobExists, BlobStore, safe_key
from townhall.store.blobs.local import LocalBlobs

log = logging.getLogger("townhall.blobs")
BACKOFF_S = (0.25, 5.0)  # first and longest wait between attempts while the store fails
HELD_BACK_RECHECK_S = 1.0  # how often held-back objects are looked at again
CONFLICTS = ".conflicts"


@dataclass(slots=True)
class _Entry:
    key: str
    size: int
    since: float  # monotonic time it was spooled
    mutable: bytes | None = None  # a replaced object (playlist): its bytes, kept in memory only
    done: list[asyncio.Future[None]] = field(default_factory=list)


def space_of(key: str) -> str | None:
    """The live space a key belongs to (`live/<space>/...`), None for any other object."""
    parts = key.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "live" else None


class SpooledBlobs:
    def __init__(
        self,
        remote: BlobStore,
        spool: Path,
        registry: CollectorRegistry | None = None,
        may_upload: Callable[[str], bool] = lambda key: True,
        fsync: bool = True,
    ) -> None:
        self.remote = remote
        self.spool = LocalBlobs(spool, fsync=fsync)
        self.may_upload = may_upload  # key -> whether it may go out now (the lease of its space is held)
        self._pending: OrderedDict[str, _Entry] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self.held_back = 0
        reg = registry if registry is not None else CollectorRegistry()
        Gauge(
            "townhall_blob_upload_backlog", "objects spooled locally, not yet in the blob store", registry=reg
        ).set_function(lambda: len(self._pending))
        Gauge(
            "townhall_blob_upload_backlog_bytes", "bytes spooled locally, not yet in the blob store", registry=reg
        ).set_function(lambda: sum(e.size for e in list(self._pending.values())))
        Gauge(
            "townhall_blob_upload_oldest_seconds", "age of the oldest object waiting for the blob store", registry=reg
        ).set_function(self.oldest_s)
        Gauge(
            "townhall_blob_spool_held_back", "spooled objects of spaces this node does not hold now", registry=reg
        ).set_function(lambda: self.held_back)
        self.failures = Counter(
            "townhall_blob_upload_failures_total", "uploads to the blob store that failed (retried)", registry=reg
        )
        self.conflicts = Counter(
            "townhall_blob_upload_conflicts_total",
            "spooled objects the blob store refused (other bytes under the key): set aside in the spool",
            registry=reg,
        )
        self._recover()

    # --- what was spooled before a restart --------------------------------------------------------
    def _recover(self) -> None:
        root = self.spool.root
        found = [
            p
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".") and CONFLICTS not in p.relative_to(root).parts
        ]
        found.sort(key=lambda p: p.stat().st_mtime)
        for path in found:
            key = str(path.relative_to(root))
            self._pending[key] = _Entry(key, path.stat().st_size, time.monotonic())
        if found:
            log.warning("blob spool: %d objects from before a restart wait for upload", len(found))

    def oldest_s(self) -> float:
        first = next(iter(list(self._pending.values())), None)
        return 0.0 if first is None else time.monotonic() - first.since

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # --- BlobStore --------------------------------------------------------------------------------
    async def put_immutable(self, key: str, data: bytes, durable: bool = True) -> None:
        safe_key(key)
        if key in self._pending or await self.spool.exists(key):
            await self.spool.put_immutable(key, data)  # same bytes: nothing to do; others: BlobExists
            return
        await self.spool.put_immutable(key, data, durable)  # uploaded from there: what the spool keeps
        self._enqueue(_Entry(key, len(data), time.monotonic()))

    async def put_mutable(self, key: str, data: bytes, durable: bool = True) -> None:
        safe_key(key)  # held in memory until uploaded (the newest version wins)
        old = self._pending.pop(key, None)  # to the back: after every object this version may name
        entry = _Entry(key, len(data), time.monotonic() if old is None else old.since, mutable=data)
        if old is not None:
            entry.done = old.done
        self._enqueue(entry)

    async def get(self, key: str) -> bytes | None:
        entry = self._pending.get(key)
        if entry is not None and entry.mutable is not None:
            return entry.mutable
        if entry is not None or await self.spool.exists(key):
            data = await self.spool.get(key)
            if data is not None:
                return data
        return await self.remote.get(key)

    async def exists(self, key: str) -> bool:
        return key in self._pending or await self.remote.exists(key)

    async def list(self, prefix: str) -> list[str]:
        waiting = {k for k in list(self._pending) if k.startswith(prefix)}
        return sorted(waiting | set(await self.remote.list(prefix)))

    async def delete_prefix(self, prefix: str) -> int:
        for key in [k for k in self._pending if k.startswith(prefix)]:
            self._pending.pop(key)
        await self.spool.delete_prefix(prefix)
        return await self.remote.delete_prefix(prefix)

    def local_path(self, key: str) -> Path | None:
        path = self.spool.local_path(key)
        return path if path.is_file() else self.remote.local_path(key)

    # --- confirmation -----------------------------------------------------------------------------
    async def uploaded(self, key: str) -> None:
        """Return once `key` is in the blob store (at once when it is not waiting)."""
        entry = self._pending.get(key)
        if entry is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.done.append(done)
        await done

    # --- the uploader -----------------------------------------------------------------------------
    def _enqueue(self, entry: _Entry) -> None:
        self._pending[entry.key] = entry
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._upload_forever(), name="blob-uploader")
        assert self._wake is not None
        self._wake.set()

    async def start(self) -> None:
        """Upload what a previous run left in the spool (otherwise the first write starts the uploader)."""
        if self._pending and (self._task is None or self._task.done()):
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._upload_forever(), name="blob-uploader")
            self._wake.set()

    async def stop(self) -> None:
        """Stop uploading (on the loop that writes); what is left stays in the spool for the next run."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            log.warning("blob spool: %d objects stay in %s for the next run", len(self._pending), self.spool.root)

    async def _upload_forever(self) -> None:
        assert self._wake is not None
        wake, backoff = self._wake, BACKOFF_S[0]
        while True:
            wake.clear()
            try:
                await self._round()
                backoff = BACKOFF_S[0]
                if self._failing_since is not None:
                    log.warning(
                        "blob store: uploads succeed again after %.1f s; backlog %d",
                        time.monotonic() - self._failing_since,
                        len(self._pending),
                    )
                    self._failing_since = None
            except Exception as exc:  # the store failed: everything waits, in order, and is tried again
                self.failures.inc()
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning(
                    "blob store: upload failed (%s); %d objects (%.0f s oldest) wait in the local spool; "
                    "retrying in %.2f s",
                    first,
                    len(self._pending),
                    self.oldest_s(),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_S[1], backoff * 2)
                continue
            if not self._pending or self.held_back < len(self._pending):
                await wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), HELD_BACK_RECHECK_S)

    async def _round(self) -> None:
        """Upload every waiting object that may go out, in order; raises at the first failure."""
        held: set[str] = set()
        held_back = 0
        for entry in list(self._pending.values()):
            if self._pending.get(entry.key) is not entry:
                continue  # replaced (a newer playlist) or deleted meanwhile
            space = space_of(entry.key)
            if space is not None and (space in held or not self.may_upload(entry.key)):
                held.add(space)
                held_back += 1
                continue
            await self._upload(entry)
        self.held_back = held_back

    async def _upload(self, entry: _Entry) -> None:
        if entry.mutable is not None:
            await self.remote.put_mutable(entry.key, entry.mutable)
        else:
            data = await self.spool.get(entry.key)
            if data is not None:
                try:
                    await self.remote.put_immutable(entry.key, data)
                except BlobExists:
                    self.conflicts.inc()
                    log.error(
                        "blob store: %s holds other bytes; the spooled copy is kept under %s", entry.key, CONFLICTS
                    )
                    self._set_aside(entry.key)
            await asyncio.to_thread(_unlink, self.spool.local_path(entry.key))
        if self._pending.get(entry.key) is entry:
            del self._pending[entry.key]
        for done in entry.done:
            if not done.done():
                done.set_result(None)

    def _set_aside(self, key: str) -> None:
        source = self.spool.local_path(key)
        target = self.spool.root / CONFLICTS / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(source, target)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
