"""A space's recording as replay knows it: ending, then published (or kept, or deleted), with the hash
chain's final head and the key that signed it."""

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
