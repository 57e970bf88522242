"""`townhall edge`: run one Varnish edge (or shield) in the foreground, with its metrics endpoint.

Starts and stops varnishd and nothing else; the origin and the keys come from the caller.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from townhall.edge import metrics
from townhall.edge.varnish import Edge, EdgeError, EdgeSettings, origin_url

log = logging.getLogger("townhall.edge")


def varnish_available(settings: EdgeSettings) -> bool:
    """Whether this machine can run an edge (the demo serves listeners from the origin otherwise)."""
    return Path(settings.edge_varnishd).exists() and shutil.which("varnishstat") is not None


async def run_edge(settings: EdgeSettings, keys: Callable[[], Mapping[str, bytes]], credential: str) -> int:
    """Run until SIGINT/SIGTERM or until varnishd dies; 0 on a clean stop. SIGHUP reloads the keys
    (a rotation) into a new VCL without a restart."""
    # varnishd's working dir: settings.edge_work_dir, or a fresh temp dir that the varnish user can
    # reach (a data dir is often private to its owner).
    edge = Edge(settings, keys(), credential=credential)
    await edge.astart()
    registry = CollectorRegistry()
    collector = await asyncio.to_thread(metrics.register, registry, edge)
    server = None
    if settings.edge_metrics_port:
        server, _ = start_http_server(settings.edge_metrics_port, settings.edge_host, registry)
    print(
        f"townhall {settings.edge_role} on {edge.url} in front of {origin_url(settings)}"
        + (f"; metrics on http://{settings.edge_host}:{settings.edge_metrics_port}/" if server else ""),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_reload(edge, keys)))
    while edge.running and not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            continue
    died = not edge.running
    collector.rejections.close()
    if server is not None:
        server.shutdown()
    await edge.astop()
    if died:
        print(f"varnishd stopped unexpectedly; its log is in {edge.work_dir / 'varnishd.log'}", flush=True)
    return 1 if died else 0


async def _reload(edge: Edge, keys: Callable[[], Mapping[str, bytes]]) -> None:
    try:
        await asyncio.to_thread(edge.reload, keys())
    except (EdgeError, ValueError) as error:
        log.error("the keys were not reloaded; the edge keeps the previous ones: %s", error)
        return
    print("keys reloaded into a new VCL", flush=True)


@dataclass
class LocalEdge:
    """An edge started beside this process, its metrics on this process's registry."""

    edge: Edge
    collector: metrics.EdgeCollector

    async def stop(self) -> None:
        self.collector.rejections.close()
        await self.edge.astop()


async def start_local_edge(
    settings: EdgeSettings, keys: Mapping[str, bytes], credential: str, registry: CollectorRegistry
) -> tuple[LocalEdge | None, str]:
    """An edge in front of this process's origin, or None; with one line telling the user which."""
    if not varnish_available(settings):
        return None, "Edge:          none (Varnish is not installed): listeners fetch from the origin directly"
    edge = Edge(settings, keys, credential=credential, origin=origin_url(settings))
    try:
        await edge.astart()
    except EdgeError as error:
        log.warning("the edge did not start: %s", error)
        return None, "Edge:          did not start (see the log): listeners fetch from the origin directly"
    collector = await asyncio.to_thread(metrics.register, registry, edge)
    line = f"Edge:          {edge.url} (Varnish: listener tokens checked, requests collapsed; metrics in /metrics)"
    return LocalEdge(edge, collector), line
