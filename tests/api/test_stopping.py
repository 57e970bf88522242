"""Stopping never hangs on a dependency that no longer answers: each step is abandoned after a bound, with
a warning, and the steps after it still run."""

from __future__ import annotations

import asyncio

import pytest

import townhall.app as root
from townhall.settings import Settings


async def test_a_hanging_stop_step_is_abandoned_and_the_rest_still_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(root, "SHUTDOWN_STEP_S", 0.2)
    rt = root.build_runtime(settings)
    app = root.build_app(runtime=rt)
    after: list[str] = []

    async def hangs() -> None:
        await asyncio.Event().wait()  # a database that never answers

    async def runs() -> None:
        after.append("ran")

    rt.shutdown[:0] = [runs]  # stopped in reverse order: this one runs after the hanging one
    rt.shutdown.append(hangs)
    async with asyncio.timeout(30), app.router.lifespan_context(app):
        pass
    assert after == ["ran"]
    assert any("did not finish" in r.getMessage() for r in caplog.records)


async def test_a_background_round_stops_when_its_cancel_comes_back_as_a_driver_error() -> None:
    """A cancel that lands in a database call can come back as the driver's own error ("unreachable"):
    the round loop still stops (a media node's roster re-read kept going and its drain never began)."""
    from townhall.domain.errors import Unavailable
    from townhall.services.context import every

    inside = asyncio.Event()
    really = False  # once the test has its answer: a plain cancel, so nothing is left running

    async def work() -> None:
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if really:
                raise
            raise Unavailable("database_unavailable", "the database is unreachable; try again shortly") from None

    rounds = asyncio.create_task(every(0.001, work, "a test round"))
    await asyncio.wait_for(inside.wait(), 5)
    rounds.cancel()
    done, _ = await asyncio.wait([rounds], timeout=5)
    if not done:
        really = True
        rounds.cancel()
        await asyncio.wait([rounds], timeout=5)
    assert done, "the round loop went on after it was cancelled"
    assert rounds.cancelled()
