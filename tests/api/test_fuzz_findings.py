"""What schemathesis found (issue 14, "Bad input, found by fuzzing"), each kept fixed by a test."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import join, live_space, register
from townhall.domain.errors import Invalid
from townhall.domain.ids import check_device, check_handle, check_id


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
