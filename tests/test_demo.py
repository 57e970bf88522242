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
    port = free_port()
    env = {**os.environ, "TOWNHALL_EDGE_PORT": str(free_port())}
    command = [townhall, "demo", "--port", str(port), "--data-dir", "data/demo"]
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
        await _a_second_demo_is_refused_in_one_line(tmp_path, command, env, port, demo.pid)
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


async def _refusal(cwd: Path, command: list[str], env: dict[str, str]) -> str:
    second = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(second.communicate(), 60)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 1 and not out, (out, err)
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


async def _a_second_demo_is_refused_in_one_line(
    cwd: Path, command: list[str], env: dict[str, str], port: int, pid: int | None
) -> None:
    """Two demos on one data directory would run each other's spaces; a taken port was a raw traceback."""
    same_dir = await _refusal(cwd, [*command[:2], "--port", str(free_port()), "--data-dir", "data/demo"], env)
    assert "data/demo is in use by townhall demo" in same_dir and f"pid {pid}" in same_dir, same_dir
    edge_taken = await _refusal(cwd, [*command[:2], "--port", str(free_port()), "--data-dir", "data/other"], env)
    assert "is already in use" in edge_taken and "--edge-port" in edge_taken, edge_taken
    env = {**env, "TOWNHALL_EDGE_PORT": str(free_port())}
    same_port = await _refusal(cwd, [*command[:2], "--port", str(port), "--data-dir", "data/other"], env)
    assert f"127.0.0.1:{port} is already in use" in same_port and "--port" in same_port, same_port
    env = {**env, "TOWNHALL_DELIVERY_PORT": str(port)}
    delivery = await _refusal(cwd, [*command[:2], "--port", str(free_port()), "--data-dir", "data/other"], env)
    assert f"127.0.0.1:{port} is already in use" in delivery and "TOWNHALL_DELIVERY_PORT" in delivery, delivery


def test_every_flag_of_serve_and_demo_has_a_description_and_its_default() -> None:
    from townhall.cli import parser

    sub = next(a for a in parser()._actions if a.choices and "serve" in a.choices)
    for verb in ("serve", "demo", "api", "media"):
        for action in sub.choices[verb]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and "default" in action.help, (verb, action.option_strings)
