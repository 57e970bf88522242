"""Trust and safety intake and audit figures on the embedded default (SQLite file, in-process ASGI).

Submits N notices from distinct anonymous reporters (each one committed with its audit entry before the
201), then verifies the audit chain end to end. Prints the notice rate and p95 latency, the verification
rate, and last `notices accepted per second = R`.

    .venv/bin/python bench/trust.py [--notices 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from townhall.app import build_app
from townhall.settings import Settings
from townhall.trust import audit


async def main(count: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="townhall-bench-trust-"))
    settings = Settings(data_dir=data, token_keys="kb1:" + "33" * 32, log_level="warning")
    app = build_app(settings)
    rt = app.state.runtime
    async with app.router.lifespan_context(app):
        host = await rt.accounts.accounts.create(rt.ctx.make_id(), "bench_host", "x", rt.clock())
        space = await rt.spaces.create(host, "Bench", None, None)
        body = {
            "items": [{"kind": "space", "id": space.id, "media_start_ms": 1000}],
            "category": "STATEMENT_CATEGORY_VIOLENCE",
            "explanation": "A threat at 00:01.",
            "bona_fide": True,
        }
        took: list[float] = []
        started = time.perf_counter()
        for i in range(count):
            # a distinct address per notice, so the per-reporter limit does not apply
            transport = httpx.ASGITransport(app=app, client=(f"10.0.{i // 250}.{i % 250}", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                t0 = time.perf_counter()
                r = await client.post("/api/notices", json=body)
                took.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
        elapsed = time.perf_counter() - started
        t0 = time.perf_counter()
        result = await audit.verify(rt.trust.stores.audit)
        verify_s = time.perf_counter() - t0
        assert result.ok and result.checked == count
    p95 = statistics.quantiles(took, n=20)[-1] * 1000
    print(f"notices: {count} in {elapsed:.2f} s, p50 {statistics.median(took) * 1000:.1f} ms, p95 {p95:.1f} ms")
    print(f"audit verify: {result.checked} entries in {verify_s:.3f} s = {result.checked / verify_s:.0f} entries/s")
    print(f"notices accepted per second = {count / elapsed:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notices", type=int, default=500)
    asyncio.run(main(max(1, min(parser.parse_args().notices, 20_000))))
