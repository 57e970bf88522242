"""Whatever a client sends, the answer is JSON with a stable code and a 4xx, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import register


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/accounts", b"{not json", 400, "invalid_json"),
        ("POST", "/api/accounts", b"[1,2]", 400, "invalid_body"),
        ("POST", "/api/accounts", b'{"handle": 5}', 400, "invalid_body"),
        ("POST", "/api/accounts", b'{"handle":"abc","password":"12345678","extra":1}', 400, "invalid_body"),
        ("POST", "/api/accounts", b"\xff\xfe", 400, "invalid_json"),
        ("GET", "/api/nowhere", None, 404, "not_found"),
        ("DELETE", "/api/spaces", None, 405, "method_not_allowed"),
        ("GET", "/api/spaces?state=bogus", None, 400, "invalid_query"),
        ("GET", "/api/spaces?limit=x", None, 400, "invalid_query"),
        ("GET", "/api/spaces/zzzz", None, 404, "space_not_found"),
        ("POST", "/api/spaces/zzzz/join", b'{"device_id":"device0001"}', 404, "space_not_found"),
        ("POST", "/api/spaces/zzzz/join", b'{"device_id":"bad id!"}', 400, "invalid_device_id"),
        ("POST", "/api/spaces/zzzz/lease", None, 401, "token_malformed"),
    ],
)
async def test_bad_requests_get_json_errors(
    client: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    r = await client.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["message"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/accounts", content=b"{" + b" " * 70_000 + b"}")
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"


async def test_rate_limit_answers_429_with_retry_after(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    app.state.runtime.settings.login_per_minute_per_ip = 2
    await register(client, "limited")
    codes = []
    for _ in range(3):
        r = await client.post("/api/sessions", json={"handle": "limited", "password": "correct horse"})
        codes.append(r.status_code)
    assert codes == [200, 200, 429]
    assert int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "too_many_logins"
