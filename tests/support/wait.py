"""The one poll helper for tests: wait for a condition that has no event to await (a server's state seen
from outside, a file appearing, a metric moving). Prefer awaiting an event where the code offers one."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def until(
    condition: Callable[[], Any],
    within: float,
    what: str,
    every: float = 0.02,
    ignoring: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll `condition` (sync or async) until it is truthy or `within` seconds pass; return its value,
    or fail saying `what` did not happen and the last value seen. Exceptions of the `ignoring` types count
    as not yet (a page mid-navigation, say). A blocking condition (a subprocess) goes through
    `lambda: asyncio.to_thread(blocking)`, so the event loop keeps serving meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(every)
