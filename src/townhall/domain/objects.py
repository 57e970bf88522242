"""Where a space's objects are kept in the blob store: its live recording (the very objects listeners were
served) and its published replay."""

from __future__ import annotations


def live_prefix(space_id: str) -> str:
    return f"live/{space_id}/"


def replay_prefix(space_id: str) -> str:
    return f"replay/{space_id}/"
