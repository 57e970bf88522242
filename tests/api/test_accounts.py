"""Accounts over HTTP: register, sign in, sessions, profiles, and clear errors."""

from __future__ import annotations

import httpx

from tests.support.api import auth, register


async def test_register_then_me(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    r = await client.get("/api/me", headers=alice["headers"])
    assert r.status_code == 200 and r.json()["handle"] == "alice" and r.json()["status"] == "active"


async def test_handle_taken_is_a_conflict(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    r = await client.post("/api/accounts", json={"handle": "bob", "password": "another one"})
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"


async def test_login_with_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    await register(client, "carol")
    r = await client.post("/api/sessions", json={"handle": "carol", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    r = await client.post("/api/sessions", json={"handle": "nobody", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["code"] == "bad_credentials"


async def test_login_gives_a_working_session_and_logout_ends_it(client: httpx.AsyncClient) -> None:
    await register(client, "dave")
    r = await client.post("/api/sessions", json={"handle": "dave", "password": "correct horse"})
    assert r.status_code == 200
    token = r.json()["session_token"]
    assert (await client.get("/api/me", headers=auth(token))).status_code == 200
    assert (await client.delete("/api/sessions/current", headers=auth(token))).status_code == 204
    r = await client.get("/api/me", headers=auth(token))
    assert r.status_code == 401 and r.json()["code"] == "session_invalid"


async def test_bad_handles_and_passwords_are_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/accounts", json={"handle": "No Spaces!", "password": "correct horse"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_handle"
    r = await client.post("/api/accounts", json={"handle": "shorty", "password": "short"})
    assert r.status_code == 400 and r.json()["code"] == "password_too_short"


async def test_public_profile_hides_private_fields(client: httpx.AsyncClient) -> None:
    await register(client, "erin")
    r = await client.get("/api/accounts/erin")
    assert r.status_code == 200 and r.json()["platform_roles"] == []
    assert (await client.get("/api/accounts/nobody")).status_code == 404


async def test_no_session_is_401_with_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/me")
    assert r.status_code == 401 and r.json()["code"] == "not_signed_in"
    assert r.headers["www-authenticate"] == "Bearer"
