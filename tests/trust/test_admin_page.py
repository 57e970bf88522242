"""The moderation desk in real headless Chromium: a moderator signs in, sees the notice in the queue,
decides from it with the keyboard-usable form, and the live space ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import browsers, until
from tests.support.api import live_space, register
from tests.support.servers import live_server
from tests.trust.conftest import staff_maker, trust_settings
from tests.trust.support import notice

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_an_admin_decides_from_the_queue_and_gives_effect_to_an_order_on_the_admin_page(
    tmp_path: Path, request: Any
) -> None:
    async with live_server(trust_settings(tmp_path)) as server, server.client() as client:
        moderator = await register(client)
        await server.runtime.accounts.grant(moderator["account_id"], "admin")
        host = await staff_maker(client, server.app)()
        space = await live_space(client, host)
        notice_id = await notice(client, space["id"])
        async with browsers(tmp_path, request.node.name) as b:
            page = await b.page("moderator", await b.launch(), f"{server.url}/admin")
            await page.fill("#signin-handle", moderator["handle"])
            await page.fill("#signin-password", "correct horse")
            await page.press("#signin-password", "Enter")
            decide = page.get_by_role("button", name=f"Decide on notice {notice_id}")
            await decide.wait_for(timeout=10_000)
            await decide.press("Enter")
            assert await page.input_value("#d-notices") == notice_id
            assert await page.input_value("#d-target") == space["id"]
            await page.get_by_label("Legal or terms ground (provision)").fill("Section 130 German Criminal Code")
            await page.get_by_label("Why the content is illegal or against the terms").fill("Incitement to hatred.")
            await page.click("#decide-submit")

            async def recorded() -> str | None:
                text = await page.text_content("#decide-done")
                return text if text and "recorded" in text else None

            assert "statement of reasons sent" in await until(recorded, 10, "the decision to be recorded")

            other = await live_space(client, host)
            order = {
                "kind": "act_against_content",
                "authority": "Tribunal judiciaire de Paris",
                "member_state": "FR",
                "legal_basis": "Loi du 29 juillet 1881, art. 24",
                "reasons": "Provocation to hatred.",
                "target_kind": "space",
                "target_id": other["id"],
                "territorial_scope": ["FR"],
                "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
            }
            assert (await client.post("/api/admin/orders", json=order, headers=moderator["headers"])).status_code == 201
            await page.reload()
            give = page.get_by_role("button", name="Withhold in FR")
            await give.wait_for(timeout=10_000)
            await give.click()

            async def effect_given() -> bool:
                listed = await client.get("/api/admin/orders", headers=moderator["headers"])
                return listed.json()["orders"][0]["state"] == "effect_given"

            await until(effect_given, 10, "the order to be given effect")
            frame = page.frame_locator("#report-frame")
            await frame.locator("ul.bars").first.wait_for(timeout=10_000)
            assert not b.errors, b.errors
        refused = await client.post(
            f"/api/spaces/{other['id']}/join", json={"device_id": "device-fr-0100"}, headers={"X-Country-Code": "FR"}
        )
        assert refused.status_code == 451
        state = (await client.get(f"/api/spaces/{space['id']}")).json()["state"]
        assert state == "ended"
