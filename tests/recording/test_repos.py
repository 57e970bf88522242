"""The recording and counting repositories on SQLite and PostgreSQL: links in order and once, the
ledger's totals, claims that expire, the journal of unique viewers, maxima kept."""

from __future__ import annotations

import pytest

from townhall.domain.counting import Batch
from townhall.domain.replay.chain import extend
from townhall.store.sql import db as sqldb
from townhall.store.sql.repos_recording import ChainRepo, CountLedger, RecordingRepo

pytestmark = pytest.mark.timeout(60)


async def test_repositories_on_each_database(database_url: str) -> None:
    await sqldb.migrate(database_url)
    engine = sqldb.open_engine(database_url)
    try:
        links = ChainRepo(engine)
        first = extend(
            None,
            "sp_repo1",
            msn=0,
            media_time=0,
            duration=92160,
            sha256="aa" * 32,
            uri="s0.m4s",
            program_date_time_ms=1,
        )
        second = extend(
            first,
            "sp_repo1",
            msn=1,
            media_time=92160,
            duration=92160,
            sha256="bb" * 32,
            uri="s1.m4s",
            program_date_time_ms=1921,
        )
        assert await links.add("sp_repo1", second, "live/sp_repo1/s1.m4s")
        assert await links.add("sp_repo1", first, "live/sp_repo1/s0.m4s")
        assert not await links.add("sp_repo1", first, "live/sp_repo1/s0.m4s")
        assert [x.msn for x, _ in await links.links("sp_repo1")] == [0, 1]
        assert await links.last("sp_repo1") == second

        recordings = RecordingRepo(engine)
        await recordings.ending("sp_repo1", False, 10.0, 20.0)
        await recordings.ending("sp_repo1", True, 99.0, None)  # a second end changes nothing
        assert [r.space_id for r in await recordings.expired(20.0)] == ["sp_repo1"]
        assert await recordings.expired(19.0) == []

        ledger = CountLedger(engine)
        batch = Batch(claims={"seen:e1": 100.0}, totals={("space:x", "joins"): 3}, uniques={"hll:a": {"v1", "v2"}})
        journal_id = await ledger.commit(batch, 1.0)
        await ledger.commit(Batch(totals={("space:x", "joins"): 2}), 2.0)
        assert await ledger.totals("space:x") == {"joins": 5}
        assert await ledger.taken(["seen:e1", "seen:e2"], 50.0) == {"seen:e1"}
        assert await ledger.taken(["seen:e1"], 100.0) == set()
        assert await ledger.journal_after(0, 10) == [(journal_id, {"hll:a": ["v1", "v2"]})]
        await ledger.raise_to("space:x", "peak_concurrent", 7)
        await ledger.raise_to("space:x", "peak_concurrent", 4)
        assert (await ledger.totals("space:x"))["peak_concurrent"] == 7
        assert await ledger.forget_expired(100.0) == 1
    finally:
        await engine.dispose()
