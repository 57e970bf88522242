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


@dataclass(frozen=True, slots=True)
class Handoff:
    """A drain's agreed cut, at a segment boundary: the old node writes every part and segment up to
    `msn - 1` and nothing after; its successor starts segment `msn` at media time `media_time`, whose
    audio begins at Unix time `at` (the end of the old node's last segment), on a new timeline for
    players (`discontinuity_sequence`). Both sides know the cut before either acts on it."""

    msn: int
    media_time: int
    at: float
    discontinuity_sequence: int

    def to_dict(self) -> dict[str, int | float]:
        return {"msn": self.msn, "media_time": self.media_time, "at": self.at, "ds": self.discontinuity_sequence}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Handoff | None:
        """None when a field is missing or of the wrong type (a message from another version)."""
        msn, media_time, at, ds = d.get("msn"), d.get("media_time"), d.get("at"), d.get("ds")
        if not (isinstance(msn, int) and isinstance(media_time, int) and isinstance(ds, int)):
            return None
        if not isinstance(at, int | float) or isinstance(at, bool):
            return None
        return cls(msn, media_time, float(at), ds)


def space_lease(space_id: str) -> str:
    """The name of the lease a media node holds to run a space and write its playlist."""
    return f"space:{space_id}"


def chosen(members: Iterable[Member]) -> Member | None:
    """The node a new or orphaned space goes to: the least loaded that is not draining (ties by id, so
    every node that asks agrees)."""
    open_nodes = [m for m in members if not m.draining]
    return min(open_nodes, key=lambda m: (m.load, m.node_id), default=None)
