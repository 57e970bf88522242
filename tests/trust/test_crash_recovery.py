"""A decision is committed before its effects run; if the process dies in between, the next start
applies them (ending the space, suspending the account) from what was recorded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.api import live_space
from tests.trust.conftest import Clock, _app, _client, staff_maker, trust_settings
from tests.trust.support import TERMS


async def test_effects_of_a_recorded_decision_are_applied_at_the_next_start(tmp_path: Path, clock: Clock) -> None:
    settings = trust_settings(tmp_path)
    async for first in _app(settings, clock):
        async with _client(first) as client:
            staff = staff_maker(client, first)
            host, moderator = await staff(), await staff("moderator")
            space = await live_space(client, host)
            effects = first.state.runtime.trust.effects

            async def crash(decision: object) -> None:
                raise SystemExit("the process died after the commit")

            effects.apply = crash
            body = {"action": "suspend_account", "target_kind": "account", "target_id": host["account_id"], **TERMS}
            with pytest.raises(SystemExit):
                await client.post("/api/admin/decisions", json=body, headers=moderator["headers"])
            assert (await client.get(f"/api/spaces/{space['id']}")).json()["state"] == "live"
    async for second in _app(settings, clock):
        async with _client(second) as client:
            assert (await client.get(f"/api/spaces/{space['id']}")).json()["state"] == "ended"
            me: httpx.Response = await client.get("/api/me", headers=host["headers"])
            assert me.json()["status"] == "suspended"
            assert await second.state.runtime.trust.stores.decisions.pending_effects() == []
