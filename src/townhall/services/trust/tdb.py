"""Submitting statements of reasons to the DSA Transparency Database without undue delay (Art. 24(5)):
pending statements go out in batches; accepted ones keep the database's uuid, rejected ones their error,
and the rest stay pending for the next round. Never submits a statement twice once accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from townhall.services.trust.ports import Statement, StatementStore
from townhall.trust.tdb import BATCH_MAX, TdbClient

log = logging.getLogger("townhall.trust")


class TdbPublisher:
    def __init__(self, statements: StatementStore, client: TdbClient, clock: Callable[[], float]) -> None:
        self.statements = statements
        self.client = client
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def flush(self) -> Counter[str]:
        """One round: submit the oldest pending statements (up to 100); count outcomes by state."""
        pending = await self.statements.pending(BATCH_MAX)
        by_puid: dict[str, tuple[Statement, dict[str, Any]]] = {}
        for row in pending:
            statement = json.loads(row.tdb_payload or "{}")
            by_puid.setdefault(statement["puid"], (row, statement))
        results = await self.client.submit([s for _, s in by_puid.values()])
        now = self.clock()
        for result in results:
            row, _ = by_puid[result.puid]
            await self.statements.record_submission(row.decision_id, result.state, result.uuid, result.error, now)
        return Counter(r.state for r in results)

    async def _loop(self, every_s: float) -> None:
        while True:
            try:
                counts = await self.flush()
                if counts["rejected"] or counts["pending"]:
                    log.warning("transparency database: %s", dict(counts))
            except Exception:  # keep submitting on the next round; the error is logged
                log.exception("transparency database submission failed")
            await asyncio.sleep(every_s)

    async def start(self, every_s: float) -> None:
        self._task = asyncio.create_task(self._loop(every_s))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()
