"""Real backends and servers for tests: a fresh PostgreSQL database, a Redis database, and the
townhall app served by uvicorn on a free 127.0.0.1 port inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_services() -> None:
    """Start PostgreSQL and Redis where they are not running (CI on a fresh machine)."""
    subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "services.sh")], check=True)


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty database on the local PostgreSQL, dropped afterwards."""
    import asyncpg

    name = f"townhall_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@dataclass
class LiveServer:
    app: Any
    url: str
    port: int

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kw)

    def edge_client(self) -> httpx.AsyncClient:
        """A client that reads live media from the origin as the edge does, with the edge's credential."""
        return self.client(headers={"X-Townhall-Edge": self.runtime.edge_secret})


@contextlib.asynccontextmanager
async def live_server(settings: Any) -> AsyncIterator[LiveServer]:
    """The townhall app on a free port, in this event loop; stopped on exit."""
    import uvicorn

    from townhall.api.server import config as server_config
    from townhall.app import build_app

    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    app = build_app(settings)
    config = server_config(app, "127.0.0.1", port)  # exactly as `townhall serve` serves it
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield LiveServer(app, f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class PrivateRedis:
    """A redis-server of the test's own on a fixed free 127.0.0.1 port, to stop and start again."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._folder = folder
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the server (no persistence) and return once it accepts connections."""
        if self.running:
            return
        self._process = await asyncio.create_subprocess_exec(
            *("redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
            cwd=self._folder,
            stdout=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if self._process.returncode is not None or loop.time() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the server and wait until it has exited (its port refuses connections)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def private_redis(folder: Path) -> AsyncIterator[PrivateRedis]:
    """A running redis-server of this test's own (never the shared one), stopped on exit."""
    server = PrivateRedis(free_port(), folder)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class EdgedSpace:
    """A live space on a running server, a real Varnish edge in front, and one listener's token."""

    server: LiveServer
    edge: Any  # townhall.edge.varnish.Edge
    space_id: str
    token: str

    @property
    def programme(self) -> Any:
        return self.server.runtime.media.node.spaces[self.space_id].programme


@contextlib.asynccontextmanager
async def space_behind_edge(settings: Any, title: str, delivery_port: int = 0) -> AsyncIterator[EdgedSpace]:
    """The app on a free port with a live space, a listener joined through the API, and a real edge
    (no per-address limit) in front, fetching live media from `delivery_port` when it is set."""
    from townhall.edge.varnish import Edge
    from townhall.settings import Settings

    edge_port = free_port()
    behind = settings.model_copy(
        update={"listener_base_url": f"http://127.0.0.1:{edge_port}", "delivery_port": delivery_port}
    )
    async with live_server(behind) as server:
        rt = server.runtime
        host = (await rt.accounts.register("host_one", "password-host", "127.0.0.1")).account
        space = await rt.spaces.create(host, title, None, None)
        await rt.spaces.start(host, space.id)
        async with server.client() as http:
            joined = (await http.post(f"/api/spaces/{space.id}/join", json={"device_id": "edge-device"})).json()
        edge_settings = Settings(
            edge_host="127.0.0.1", edge_requests_per_ip=0, edge_threads_min=100, delivery_port=delivery_port
        )
        edge = Edge(edge_settings, rt.keys.keys, credential=rt.edge_secret, origin=server.url, port=edge_port)
        await edge.astart()
        try:
            yield EdgedSpace(server, edge, space.id, joined["token"])
        finally:
            await edge.astop()
