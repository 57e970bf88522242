"""The media thread's edges: what the API's loop tells it while it stops."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import uvloop

from townhall.media.thread import HostState, ThreadedMedia


def test_a_chain_head_told_as_the_media_loop_closes_is_dropped() -> None:
    """A node stopping (a drain, a shutdown) still chains its last segments on the API's loop; telling the
    closed media loop the new head must not fail the chaining ("could not chain segment" in a drain)."""
    node = SimpleNamespace(set_chain_head=lambda space_id, msn, head: None)
    media = ThreadedMedia(cast(Any, node), HostState(cast(Any, None)))
    closed = uvloop.new_event_loop()
    closed.close()
    media._loop = closed  # the window between the loop closing and `stop` forgetting it
    media.set_chain_head("space", 1, "head")  # no RuntimeError
