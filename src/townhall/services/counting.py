"""Counting every listen and view: joins (from admission hooks), replay and clip plays and impressions
(from batched beacons), peak concurrency sampled from leases, and the figures read back.

Nothing is acknowledged before its batch is committed to SQL (group commit); unique viewers then go
to the state store's HyperLogLogs and are replayed from the SQL journal after a restart. Never one
call per audio request: live listens come from joins, plays and views from beacons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from townhall.domain import counting as rules
from townhall.domain.admission import Admitted
from townhall.domain.counting import Event, Kind
from townhall.domain.spaces import Space, SpaceState
from townhall.services.admission import AdmissionService, Listener
from townhall.services.context import Context, every
from townhall.services.spaces import SpaceService
from townhall.store.sql.repos_recording import Batch, CountLedger
from townhall.store.state.base import Uniques, Values

log = logging.getLogger("townhall.counting")
WATERMARK = "cnt:journal:applied"  # last journal row whose viewers are in the state store's HLLs
RESTORE_MARGIN = 100
KNOWN_MAX = 300_000  # viewers remembered as already in an HLL (adding one again changes nothing)


class CountingState(Uniques, Values, Protocol):
    """What counting needs of the hot state: the unique-viewer HyperLogLogs and the journal's watermark."""


@dataclass(slots=True)  # not frozen: built per event on the hot path (see domain.counting.Event)
class Counted:
    event: Event
    event_id: str | None = None  # client events carry one: a retried beacon is never counted twice
    replay_duration_s: float = 0.0
    clip_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    counted: int
    duplicates: int


class _Pending:
    __slots__ = ("done", "items")

    def __init__(self, items: Sequence[Counted]) -> None:
        self.items = items
        self.done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()


class CountingService:
    def __init__(
        self,
        ctx: Context,
        state: CountingState,
        ledger: CountLedger,
        spaces: SpaceService,
        admission: AdmissionService,
        secret: bytes,
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.ledger = ledger
        self.spaces = spaces
        self.admission = admission
        self.secret = secret
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._known: dict[str, set[str]] = {}
        self._known_size = 0

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.restore_uniques()
        self._writer = asyncio.create_task(self._write_forever(), name="counting-writer")
        s = self.ctx.settings
        self._sampler = asyncio.create_task(
            every(s.count_peak_sample_s, self.sample_peaks, "peak sampling"), name="counting-peak"
        )
        self._sweeper = asyncio.create_task(
            every(s.recording_sweep_s, self.sweep, "counting sweep"), name="counting-sweep"
        )

    async def stop(self) -> None:
        """Stop sampling and sweeping; the writer drains what was handed in, then ends."""
        for task in (self._sweeper, self._sampler):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
        self._writer = self._sampler = self._sweeper = None
        self._stopping = False

    # --- recording events -----------------------------------------------------------------------
    def viewer_of(self, listener: Listener) -> str:
        kind, _, ident = listener.key.partition("-")
        if kind == "a":
            return rules.viewer_key(self.secret, account_id=ident)
        return rules.viewer_key(self.secret, device_id=ident)

    async def joined(self, space: Space, listener: Listener, outcome: object) -> None:
        """admission.on_join hook: an admitted join adds a join and the listener's viewer key."""
        if isinstance(outcome, Admitted):
            await self.record([Counted(Event(Kind.JOIN, space.id, self.viewer_of(listener), listener.synthetic))])

    async def record(self, items: Sequence[Counted]) -> Outcome:
        """Count a batch; returns once it is committed (so the caller may acknowledge it)."""
        if not items:
            return Outcome(0, 0)
        if self._writer is None or self._writer.done():
            return await self._write([_Pending(items)])
        pending = _Pending(items)
        self._queue.append(pending)
        self._wake.set()
        return await pending.done

    def _take(self) -> list[_Pending]:
        taken, self._queue = self._queue, []
        return taken

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                try:
                    await self._write(self._take())
                except Exception:  # each waiting caller got the error; the writer goes on
                    log.exception("a counting batch could not be committed")
            if self._stopping:
                return

    async def _write(self, group: list[_Pending]) -> Outcome:
        """One transaction for every batch waiting (group commit); each caller learns its own outcome."""
        total = Outcome(0, 0)
        for attempt in range(3):
            try:
                outcomes, batch = await self._plan(group)
                journal_id = await self.ledger.commit(batch, self.ctx.clock())
                break
            except IntegrityError:  # another process claimed a key between our read and our write
                if attempt == 2:
                    for p in group:
                        if not p.done.done():
                            p.done.set_exception(RuntimeError("counting batch could not be committed"))
                    raise
            except Exception as exc:
                for p in group:
                    if not p.done.done():
                        p.done.set_exception(exc)
                raise
        await self._apply_uniques(batch.uniques)
        if journal_id is not None:
            await self.state.put(WATERMARK, str(journal_id).encode(), self.ctx.clock())
        for p, outcome in zip(group, outcomes, strict=True):
            if not p.done.done():
                p.done.set_result(outcome)
            total = Outcome(total.counted + outcome.counted, total.duplicates + outcome.duplicates)
        return total

    async def _plan(self, group: list[_Pending]) -> tuple[list[Outcome], Batch]:
        now = self.ctx.clock()
        plan = rules.plan
        keys: set[str] = set()
        plans: list[list[tuple[Counted, rules.Plan]]] = []
        for pending in group:  # one pass: plans, and the keys that must be new (retried ids, repeat plays)
            per = []
            for c in pending.items:
                pl = plan(c.event, c.replay_duration_s, c.clip_duration_s)
                per.append((c, pl))
                if c.event_id:
                    keys.add(_seen(c))
                if pl.dedupe:
                    keys.add(pl.dedupe)
            plans.append(per)
        taken = await self.ledger.taken(keys, now) if keys else set()
        batch = Batch()
        outcomes = [self._add(per, taken, batch, now) for per in plans]
        return outcomes, batch

    def _add(self, per: list[tuple[Counted, rules.Plan]], taken: set[str], batch: Batch, now: float) -> Outcome:
        """Add one caller's events to the batch: skip retried ids and de-duplicated plays, then move
        each plan's totals and uniques once for all the events that share it."""
        counted = duplicates = 0
        claims = batch.claims
        viewers_by_plan: dict[int, tuple[rules.Plan, list[str]]] = {}
        for item, pl in per:
            if item.event_id:
                seen = _seen(item)
                if seen in taken or seen in claims:
                    duplicates += 1
                    continue
                claims[seen] = now + rules.EVENT_ID_TTL_S
            if not (pl.totals or pl.uniques):
                continue
            if pl.dedupe is not None:
                if pl.dedupe in taken or pl.dedupe in claims:
                    continue
                claims[pl.dedupe] = now + rules.DEDUPE_WINDOW_S
            entry = viewers_by_plan.get(id(pl))
            if entry is None:
                entry = viewers_by_plan[id(pl)] = (pl, [])
            entry[1].append(item.event.viewer)
            counted += 1
        for pl, viewers in viewers_by_plan.values():
            for key in pl.totals:
                batch.totals[key] = batch.totals.get(key, 0) + len(viewers)
            distinct = set(viewers)
            for hll in pl.uniques:
                fresh = distinct - self._known.get(hll, set())
                if fresh:
                    batch.uniques.setdefault(hll, set()).update(fresh)
        return Outcome(counted, duplicates)

    async def _apply_uniques(self, uniques: dict[str, set[str]]) -> None:
        for key, viewers in uniques.items():
            await self.state.pfadd(key, *viewers)
            if self._known_size + len(viewers) > KNOWN_MAX:
                self._known.clear()
                self._known_size = 0
            self._known.setdefault(key, set()).update(viewers)
            self._known_size += len(viewers)

    async def restore_uniques(self) -> int:
        """Replay the journal into the HLLs past the state store's watermark (all of it for memory)."""
        raw = await self.state.get(WATERMARK, self.ctx.clock())
        # other processes write concurrently: a margin re-adds recent rows (adding twice changes nothing)
        after = max(0, int(raw) - RESTORE_MARGIN) if raw else 0
        replayed = 0
        while rows := await self.ledger.journal_after(after, 200):
            for row_id, uniques in rows:
                await self._apply_uniques({k: set(v) for k, v in uniques.items()})
                after = row_id
                replayed += 1
            await self.state.put(WATERMARK, str(after).encode(), self.ctx.clock())
        return replayed

    # --- peak concurrency -----------------------------------------------------------------------
    async def sample_peaks(self) -> None:
        """Concurrent listeners (seats holding a lease) of every live space, kept as the peak."""
        for space in await self.spaces.find([SpaceState.LIVE], self.ctx.settings.list_limit_max):
            seated, _ = await self.admission.counts(space)
            await self.ledger.raise_to(rules.space_subject(space.id), "peak_concurrent", seated)

    # --- reading --------------------------------------------------------------------------------
    async def space_counts(self, space: Space, live_now: int | None) -> dict[str, object]:
        """Listens and views of a space, kept apart; uniques are estimates (HyperLogLog)."""
        totals = await self.ledger.totals(rules.space_subject(space.id))
        state = self.state
        listens = {
            "live_concurrent": live_now,
            "live_peak_concurrent": max(totals.get("peak_concurrent", 0), live_now or 0),
            "live_joins": totals.get("joins", 0),
            "live_unique_listeners": await state.pfcount(rules.live_hll(space.id)),
            "replay_plays": totals.get("replay_plays", 0),
            "replay_unique_listeners": await state.pfcount(rules.replay_hll(space.id)),
            "clip_plays": totals.get("clip_plays", 0),
        }
        views = {
            "post_views": totals.get("post_views", 0),
            "post_views_logged_in": totals.get("post_views_logged_in", 0),
            "clip_views": totals.get("clip_views", 0),
            "embed_views": totals.get("embed_views", 0),
            "combined_views": rules.combined_views(totals),
            "combined_views_label": rules.COMBINED_VIEWS_LABEL,
        }
        synthetic = {k.removesuffix("_synthetic"): v for k, v in totals.items() if k.endswith("_synthetic")}
        synthetic["live_unique"] = await state.pfcount(rules.live_hll(space.id, synthetic=True))
        return {
            "space_id": space.id,
            "listens": listens,
            "views": views,
            "combined_unique_reach": await state.pfcount(rules.reach_hll(space.id)),
            "synthetic": synthetic,
            "uniques_are_estimates": True,
        }

    async def clip_counts(self, clip_id: str) -> dict[str, object]:
        totals = await self.ledger.totals(rules.clip_subject(clip_id))
        return {
            "clip_id": clip_id,
            "clip_plays": totals.get("clip_plays", 0),
            "clip_unique_listeners": await self.state.pfcount(rules.clip_hll(clip_id)),
            "views": totals.get("views", 0),
            "synthetic": {k.removesuffix("_synthetic"): v for k, v in totals.items() if k.endswith("_synthetic")},
        }

    async def room_summary(self, space: Space) -> dict[str, object]:
        """room.contributors: the public figures for the live page (cheap: one SQL read, one PFCOUNT)."""
        totals = await self.ledger.totals(rules.space_subject(space.id))
        return {
            "counts": {
                "peak": totals.get("peak_concurrent", 0),
                "joins": totals.get("joins", 0),
                "unique_listeners": await self.state.pfcount(rules.live_hll(space.id)),
            }
        }

    async def sweep(self) -> int:
        """Forget event ids and de-duplication keys whose window has passed."""
        return await self.ledger.forget_expired(self.ctx.clock())


def _seen(item: Counted) -> str:
    """An event id is one viewer's: scoped to them, nobody can spend another's ids."""
    return f"seen:{item.event.viewer}:{item.event_id}"
