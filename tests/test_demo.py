"""`townhall demo` as a person runs it: a live space; on Ctrl-C the replay is published and the demo prints a
verify command that works exactly as printed once the demo has stopped (offline, from its data directory)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.browser.support import until
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

LISTEN = re.compile(r"Listen:\s+(http://\S+)/s/(\S+)")
VERIFY = re.compile(r"Verify it:\s+(.+?)\s{3}\(")


async def _read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str], seen: list[str]) -> re.Match[str]:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 90)).decode()
        assert line, f"the demo stopped printing before {pattern.pattern!r}: {''.join(seen)}"
        seen.append(line)
        found = pattern.search(line)
        if found:
            return found


async def _stopped(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            await http.get(f"{url}/healthz")
        except httpx.ConnectError:
            return True
    return False


def _relative_script(cwd: Path) -> str:
    """The venv's `townhall` script by a path relative to `cwd`, as `make demo` runs `.venv/bin/townhall`."""
    return os.path.relpath(Path(sys.executable).parent / "townhall", cwd)


async def test_the_demo_prints_a_verify_command_that_works_after_it_stopped(tmp_path: Path) -> None:
    townhall = _relative_script(tmp_path)  # the printed command must run as printed, from the same directory
    env = {**os.environ, "TOWNHALL_EDGE_PORT": str(free_port())}
    command = [townhall, "demo", "--port", str(free_port()), "--data-dir", "data/demo"]
    with (tmp_path / "demo.log").open("wb") as log:
        demo = await asyncio.create_subprocess_exec(
            *command, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
        )
    seen: list[str] = []
    try:
        assert demo.stdout is not None
        base, space_id = (await _read_until(demo.stdout, LISTEN, seen)).groups()
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:

            async def recorded() -> bool:
                r = await http.get(f"/api/spaces/{space_id}/chain")
                return r.status_code == 200 and r.json()["msn"] >= 1

            await until(recorded, 60, "two segments of the demo space recorded")
        demo.send_signal(signal.SIGINT)
        printed = (await _read_until(demo.stdout, VERIFY, seen)).group(1)
        assert await asyncio.wait_for(demo.wait(), 60) == 0, "".join(seen)
    finally:
        if demo.returncode is None:
            demo.kill()
            with contextlib.suppress(ProcessLookupError):
                await demo.wait()
    assert await _stopped(base), "the demo's server still answers"
    assert printed.startswith(f"{townhall} verify "), printed

    verify = await asyncio.create_subprocess_exec(
        *shlex.split(printed), cwd=tmp_path, env=os.environ.copy(), stdout=asyncio.subprocess.PIPE
    )
    out = (await asyncio.wait_for(verify.communicate(), 60))[0].decode()
    assert verify.returncode == 0 and out.startswith("verified"), out
    assert "replay-keys.json (its public half)" in out, out
