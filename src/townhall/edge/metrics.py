"""Edge metrics for Prometheus: varnishd's own counters plus the edge's rejections by reason.

Reads what varnishd already counts (varnishstat, varnishlog); never adds work to a listener request.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from townhall.edge.varnish import Edge

# varnishstat counter -> (metric name, help). busy_sleep counts requests parked on a waiting list,
# i.e. collapsed onto another request's fetch instead of reaching the origin.
VARNISH_COUNTERS = {
    "MAIN.client_req": ("townhall_edge_requests", "requests received by the edge"),
    "MAIN.cache_hit": ("townhall_edge_cache_hits", "requests answered from the edge cache"),
    "MAIN.cache_miss": ("townhall_edge_cache_misses", "requests that needed a fetch"),
    "MAIN.busy_sleep": ("townhall_edge_collapsed_waits", "requests that waited on another's fetch"),
    "MAIN.backend_req": ("townhall_edge_origin_requests", "requests the edge sent to its origin"),
    "MAIN.s_synth": ("townhall_edge_synthetic_responses", "answers made by the edge itself"),
    "MAIN.s_resp_bodybytes": ("townhall_edge_body_bytes", "response body bytes sent to clients"),
}
REJECT_TAG = "th-reject"  # std.log() prefix written by vcl_synth in townhall.vcl
HEALTH_TAG = "th-health"  # written for each /_edge/health request


class RejectionLog:
    """Counts the edge's rejections (403 by token reason, 429, 451) from varnishlog's VCL_Log records."""

    def __init__(self, edge: Edge) -> None:
        self.counts: Counter[str] = Counter()
        self.attached = threading.Event()  # set once a health check's record came through
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            ["varnishlog", "-n", edge.name, "-u", "-g", "raw", "-i", "VCL_Log"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="edge-rejections", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            fields = line.split()
            if HEALTH_TAG in fields:
                self.attached.set()
            elif REJECT_TAG in fields and fields[-1] != REJECT_TAG:
                with self._lock:
                    self.counts[fields[-1]] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=5)
        self._reader.join(timeout=5)


class EdgeCollector(Collector):
    """A Prometheus collector reading one edge at scrape time."""

    def __init__(self, edge: Edge, rejections: RejectionLog) -> None:
        self.edge = edge
        self.rejections = rejections

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        up = GaugeMetricFamily("townhall_edge_up", "1 when varnishd answers varnishstat")
        try:
            stats = self.edge.stats() if self.edge.running else None
        except (subprocess.SubprocessError, OSError, ValueError):
            stats = None
        up.add_metric([], 1 if stats is not None else 0)
        yield up
        for counter, (name, text) in VARNISH_COUNTERS.items():
            if stats is not None and counter in stats:
                yield CounterMetricFamily(name, text, value=stats[counter])
        rejected = CounterMetricFamily("townhall_edge_rejections", "answers refused by the edge", labels=["reason"])
        for reason, count in sorted(self.rejections.snapshot().items()):
            rejected.add_metric([reason], count)
        yield rejected


def register(registry: CollectorRegistry, edge: Edge, timeout_s: float = 10.0) -> EdgeCollector:
    """Expose a running edge's metrics on `registry` once the log reader is attached (rejections
    before that are not counted); close `.rejections` when the edge stops."""
    rejections = RejectionLog(edge)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while not rejections.attached.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{edge.url}/_edge/health")
            rejections.attached.wait(0.05)
    collector = EdgeCollector(edge, rejections)
    registry.register(collector)
    return collector
