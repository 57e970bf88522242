"""`townhall edge` runs varnishd in the foreground with its metrics, and stops it cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from edge_support import free_port
from tests.support.wait import until

pytestmark = pytest.mark.integration


async def test_the_edge_command_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "TOWNHALL_DATA_DIR": str(tmp_path), "TOWNHALL_EDGE_METRICS_PORT": str(metrics_port)}
    command = [sys.executable, "-m", "townhall.cli", "edge", "--port", str(port), "--origin", "http://127.0.0.1:9"]
    process = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert f"on http://127.0.0.1:{port}" in line.decode()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/_edge/health")).status_code == 200
            await client.get(f"http://127.0.0.1:{port}/live/space-one/p1.0.m4s")  # no token: 403

            async def rejected() -> bool:
                text = (await client.get(f"http://127.0.0.1:{metrics_port}/")).text
                return 'townhall_edge_rejections_total{reason="token_malformed"} 1.0' in text

            await until(rejected, 5, "the malformed token counted in the metrics", every=0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    await until(lambda: asyncio.to_thread(lambda: not _varnishd_on(port)), 10, "varnishd to stop with the command")


def _varnishd_on(port: int) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"varnishd") and f"127.0.0.1:{port}".encode() in args:
            return True
    return False
