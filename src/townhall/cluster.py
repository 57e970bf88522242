"""The scaled-out form on one machine: API processes and media nodes as child processes on loopback,
sharing one PostgreSQL database, one Redis (under one key prefix) and one blob store. Used by
`townhall cluster`, the fault tests and bench/failover.py; docs/deploy.md shows the same layout
across machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_WAIT_S = 60.0  # a process imports aiortc, av and the app: 20 s on a busy 2-core machine


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    role: str  # "api" or "media"
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path
    delivery_port: int = 0  # an API process's port for the edge's live media (api/delivery.py)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None


@dataclass
class Cluster:
    env: dict[str, str]
    workdir: Path
    apis: list[Process] = field(default_factory=list)
    media: list[Process] = field(default_factory=list)

    async def start_process(self, role: str, name: str, wait: bool = True) -> Process:
        """Start `townhall <role>` as `name`; by default return once it is ready (`wait=False`: at once)."""
        port = free_port()
        data_dir = self.workdir / name
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "TOWNHALL_DATA_DIR": str(data_dir),
            "TOWNHALL_PORT": str(port),
            "TOWNHALL_NODE_ID": name,
        }
        delivery_port = 0
        if role == "api":  # the edge's live media off the API's loop, as `townhall serve` has it
            delivery_port = free_port()
            env["TOWNHALL_DELIVERY_PORT"] = str(delivery_port)
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "townhall", role, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        process = Process(role, name, port, proc, log, delivery_port)
        (self.apis if role == "api" else self.media).append(process)
        if wait:
            await self.ready(process)
        return process

    async def ready(self, process: Process) -> None:
        """Until the process answers /readyz 200 (fails with its log if it exits or takes too long)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WAIT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if not process.alive:
                    raise RuntimeError(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(process.url + "/readyz")).status_code == 200:
                        return
                if loop.time() > deadline:
                    raise RuntimeError(
                        f"{process.name} not ready in {READY_WAIT_S} s:\n{process.log.read_text()[-3000:]}"
                    )
                await asyncio.sleep(0.1)

    async def owner(self, space_id: str) -> Process | None:
        """The media node that says it runs `space_id` (its /healthz lists it)."""
        async with httpx.AsyncClient(timeout=2) as client:
            for node in self.media:
                if not node.alive:
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    if space_id in (await client.get(node.url + "/healthz")).json().get("spaces", []):
                        return node
        return None

    def kill(self, process: Process, sig: int = signal.SIGKILL) -> None:
        process.proc.send_signal(sig)

    async def stop(self) -> None:
        for process in [*self.media, *self.apis]:
            if process.alive:
                with contextlib.suppress(ProcessLookupError):
                    process.proc.send_signal(signal.SIGCONT)
                    process.proc.terminate()
        for process in [*self.media, *self.apis]:
            try:
                await asyncio.wait_for(process.proc.wait(), 10)
            except TimeoutError:
                process.proc.kill()
                await process.proc.wait()


def cluster_env(workdir: Path, settings_env: Mapping[str, str]) -> dict[str, str]:
    """The environment every process of a cluster in `workdir` starts with."""
    env = {**os.environ, **settings_env}
    env.setdefault("TOWNHALL_REPLAY_KEYS_FILE", str(workdir / "replay-keys.json"))
    env.setdefault("TOWNHALL_BLOB_URL", f"file://{(workdir / 'blobs').resolve()}")
    return env


@contextlib.asynccontextmanager
async def cluster(
    workdir: Path, settings_env: Mapping[str, str], apis: int = 1, media: int = 2
) -> AsyncIterator[Cluster]:
    """`apis` API processes then `media` media nodes, all ready; stopped (SIGTERM, then SIGKILL) on exit.
    `settings_env` holds the shared TOWNHALL_* settings (database, state, prefix, blobs, secrets)."""
    c = Cluster(cluster_env(workdir, settings_env), workdir)
    try:
        await c.start_process("api", "api-1")  # first and alone: it migrates the database
        await asyncio.gather(
            *(c.start_process("api", f"api-{i + 1}") for i in range(1, apis)),
            *(c.start_process("media", f"media-{i + 1}") for i in range(media)),
        )
        c.apis.sort(key=lambda p: p.name)
        c.media.sort(key=lambda p: p.name)
        yield c
    finally:
        await c.stop()
