"""Where a live space runs in the scaled-out form: leases with fencing numbers, media nodes as their
heartbeats describe them, and the rule that places a space on the least-loaded live node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a name, and the fencing number of this claim (grows by one with every new claim)."""

    holder: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Member:
    """A media node as its last heartbeat described it."""

    node_id: str
    url: str  # where API processes reach its internal endpoints
    load: int  # live spaces it runs
    draining: bool


def space_lease(space_id: str) -> str:
    """The name of the lease a media node holds to run a space and write its playlist."""
    return f"space:{space_id}"


def chosen(members: Iterable[Member]) -> Member | None:
    """The node a new or orphaned space goes to: the least loaded that is not draining (ties by id, so
    every node that asks agrees)."""
    open_nodes = [m for m in members if not m.draining]
    return min(open_nodes, key=lambda m: (m.load, m.node_id), default=None)
