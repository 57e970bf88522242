"""A space's recording as it is kept: its state from the end of the space to its replay (or deletion)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Recording:
    space_id: str
    state: str  # ending, published, kept, deleted
    public: bool
    ended_at: float
    delete_after: float | None
    segments: int
    duration_ms: int
    final_head: str | None
    kid: str | None
    published_at: float | None
