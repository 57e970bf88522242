"""Each API process keeps a copy of a space's revoked listener tokens at most `revocation_fresh_s` old
(decision 0012), so a renewal costs no lookup: a decision is seen at once by the process that took it and
within the bound by every other; a list too long to copy is read per subject, so nothing is missed."""

from __future__ import annotations

import pytest

from tests.support.state import open_store
from townhall.services.context import Context
from townhall.services.revocation import LIST_MAX, Revocations
from townhall.settings import Settings

T0 = 1_764_170_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_revocation_is_seen_at_once_here_and_within_the_bound_in_another_process(kind: str) -> None:
    clock = Clock()
    async with open_store(kind) as store:
        ctx = Context(Settings(), store, clock)  # type: ignore[arg-type]
        here, there = (Revocations(ctx, store, store, store, fresh_s=1.0) for _ in range(2))
        assert not await here.revoked("s1", "dev:a") and not await there.revoked("s1", "dev:a")  # copies taken
        await here.revoke("s1", "dev:a")
        assert await here.revoked("s1", "dev:a")  # the process that decided: at once
        assert not await there.revoked("s1", "dev:a")  # another: its copy is still fresh
        clock.now += 1.0
        assert await there.revoked("s1", "dev:a")  # ... and no older than the bound
        await there.revoke(None, "acct:b")  # suspended everywhere
        assert await there.revoked("s2", "acct:b")
        clock.now += 1.0
        assert await here.revoked("s1", "acct:b") and not await here.revoked("s1", "dev:c")
        await here.restore("s1", "dev:a")
        assert not await here.revoked("s1", "dev:a")


async def test_a_list_too_long_to_copy_is_read_per_subject() -> None:
    clock = Clock()
    async with open_store("memory") as store:
        ctx = Context(Settings(), store, clock)  # type: ignore[arg-type]
        here, there = (Revocations(ctx, store, store, store, fresh_s=1.0) for _ in range(2))
        assert not await there.revoked("s1", "dev:last")  # a copy, taken while the list was short
        for i in range(LIST_MAX + 1):
            await here.revoke("s1", f"dev:{i}")
        clock.now += 1.0
        assert all([await there.revoked("s1", f"dev:{i}") for i in (0, LIST_MAX - 1, LIST_MAX)])
        assert not await there.revoked("s1", "dev:never")
