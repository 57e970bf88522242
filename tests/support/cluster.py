"""What the scaled-out scenario tests share: the processes' environment and a client of an API process
that speaks as the edge."""

from __future__ import annotations

import httpx

from tests.conftest import TEST_KEYS

EDGE_SECRET = "cluster-test-edge-secret-0123456789abcdef"


def processes_env(database_url: str, state_url: str, prefix: str | None = None, **more: str) -> dict[str, str]:
    """The settings every process of a test cluster runs with (keys, the edge's credential, info logs)."""
    env = {
        "TOWNHALL_DATABASE_URL": database_url,
        "TOWNHALL_STATE_URL": state_url,
        "TOWNHALL_TOKEN_KEYS": TEST_KEYS,
        "TOWNHALL_EDGE_SECRET": EDGE_SECRET,
        "TOWNHALL_LOG_LEVEL": "info",
        **more,
    }
    if prefix is not None:
        env["TOWNHALL_STATE_PREFIX"] = prefix
    return env


def as_edge(base_url: str) -> httpx.AsyncClient:
    """A client of an API process that presents the edge's credential (live media without a token)."""
    return httpx.AsyncClient(base_url=base_url, timeout=15, headers={"X-Townhall-Edge": EDGE_SECRET})
