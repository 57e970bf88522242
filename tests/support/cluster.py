"""What the scaled-out scenario tests share: the processes' environment and a client of an API process
that speaks as the edge, and a cluster with a claimed live space."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from tests.conftest import TEST_KEYS
from tests.support.api import live_space, register
from tests.support.wait import until
from townhall.cluster import Cluster, Process, cluster

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


class ClaimedSpace(NamedTuple):
    """A one-API, one-media-node cluster with a live space its node has claimed."""

    running: Cluster
    api: httpx.AsyncClient  # the API process, as the edge
    host: dict[str, Any]
    space_id: str
    node: Process  # the media node that owns the space


@contextlib.asynccontextmanager
async def claimed_space(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[ClaimedSpace]:
    """Start the cluster, register a host, take a space live and wait for the media node to claim it."""
    async with cluster(tmp_path, env, apis=1, media=1) as running, as_edge(running.apis[0].url) as api:
        host = await register(api)
        space_id = (await live_space(api, host))["id"]
        node = await until(lambda: running.owner(space_id), 10, "the media node to claim the space")
        yield ClaimedSpace(running, api, host, space_id, node)
