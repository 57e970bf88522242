"""Names of the hot-state keys and channels the processes share, so producer and consumer agree."""

from __future__ import annotations


def programme_stopped_key(space_id: str) -> str:
    """Noted by the media node when a space's programme stopped for good: `{"last_msn": n}`."""
    return f"programme-ended:{space_id}"


def programme_channel(space_id: str) -> str:
    """The same note, published the moment it is written."""
    return f"programme:{space_id}"


STAGE_MARK_EVERY_S = 10.0  # how often the media node refreshes the mark while anyone is on stage


def stage_attended_key(space_id: str) -> str:
    """Written by the media node running a space while anyone publishes on its stage: the time, as text."""
    return f"stage:{space_id}"
