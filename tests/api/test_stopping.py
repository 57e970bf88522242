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
