"""Small API helpers for tests: register people, create and start spaces, join as a listener."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_n = itertools.count()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, handle: str | None = None) -> dict[str, Any]:
    handle = handle or f"user{next(_n)}"
    r = await client.post("/api/accounts", json={"handle": handle, "password": "correct horse"})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    out["headers"] = auth(out["session_token"])
    return out


async def live_space(client: httpx.AsyncClient, host: dict[str, Any], **fields: Any) -> dict[str, Any]:
    r = await client.post("/api/spaces", json={"title": "A test space", **fields}, headers=host["headers"])
    assert r.status_code == 201, r.text
    space_id = r.json()["id"]
    r = await client.post(f"/api/spaces/{space_id}/start", headers=host["headers"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def join(
    client: httpx.AsyncClient, space_id: str, device: str | None = None, person: dict[str, Any] | None = None
) -> httpx.Response:
    headers = person["headers"] if person else {}
    body = {} if person else {"device_id": device or f"device{next(_n):06d}"}
    return await client.post(f"/api/spaces/{space_id}/join", json=body, headers=headers)
