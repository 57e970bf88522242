"""The Prometheus registry of one process and the foundation's metrics; other areas add their own.

One registry per Runtime (never the global default), so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Histogram(
            "townhall_http_request_seconds",
            "HTTP request latency by route and status class",
            ["route", "status"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.rejected = Counter(
            "townhall_rejected_requests_total", "Requests refused, by error code", ["code"], registry=r
        )
        self.shed = Counter(
            "townhall_shed_requests_total",
            "Requests refused as overload (503), by admission lane",
            ["lane"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "townhall_loop_lag_seconds", "How late the API's event loop runs (recent maximum)", registry=r
        )
        self.joins = Counter("townhall_joins_total", "Listener joins, by outcome", ["outcome"], registry=r)
        self.admitted = self.joins.labels("admitted")  # bound once: joins are the hot path
        self.waited = self.joins.labels("waiting")
