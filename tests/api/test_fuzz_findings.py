"""What schemathesis found (issue 14, "Bad input, found by fuzzing"), each kept fixed by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import join, live_space, register
from townhall.domain.errors import Invalid
from townhall.domain.ids import check_device, check_handle, check_id
from townhall.settings import Settings


@pytest.mark.parametrize("check", [check_id, check_handle, check_device])
def test_ids_with_a_trailing_newline_are_refused(check) -> None:  # type: ignore[no-untyped-def]
    # Python's `$` matches before a trailing newline; the patterns must anchor at the very end
    with pytest.raises(Invalid):
        check("admin_device\n")


async def test_handle_with_a_trailing_newline_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/accounts", json={"handle": "admin\n", "password": "correct horse"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_handle", r.text


async def test_device_id_with_a_trailing_newline_is_400(client: httpx.AsyncClient) -> None:
    host = await register(client)
    space = await live_space(client, host)
    r = await join(client, space["id"], device="device0001\n")
    assert r.status_code == 400 and r.json()["code"] == "invalid_device_id", r.text


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity"])
async def test_scheduled_start_must_be_a_finite_number(client: httpx.AsyncClient, value: bytes) -> None:
    host = await register(client)
    r = await client.post(
        "/api/spaces", content=b'{"title": "t", "scheduled_start": ' + value + b"}", headers=host["headers"]
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_body", r.text


@pytest.fixture
async def sql_client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on SQLite and on PostgreSQL (which refuses NUL in text: that was the 500)."""
    from townhall.app import build_app

    application = build_app(settings.model_copy(update={"database_url": database_url}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10) as c:
            yield c


async def test_control_characters_in_text_are_a_400_on_every_database(sql_client: httpx.AsyncClient) -> None:
    c = sql_client
    host = await register(c)
    for title, code in [("a\u0000b", "invalid_body"), ("bell\u0007", "invalid_title"), ("del\u007f", "invalid_title")]:
        r = await c.post("/api/spaces", json={"title": title}, headers=host["headers"])
        assert r.status_code == 400 and r.json()["code"] == code, (title, r.text)
    r = await c.post("/api/sessions", json={"handle": "ad\u0000min", "password": "correct horse"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_body", r.text
    r = await c.post("/api/accounts", json={"handle": "someone", "password": "pass\u0000word1"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_body", r.text
    ok = await c.post("/api/spaces", json={"title": "  fine\ttitle \n"}, headers=host["headers"])
    assert ok.status_code == 201 and ok.json()["title"] == "fine title"
