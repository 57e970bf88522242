"""Client of the DSA Transparency Database API (Art. 24(5)): submits statements of reasons in batches
of up to 100, one by one when a batch is refused, and treats an identifier (puid) already used by this
platform as accepted. Sends nothing but the statement objects; never logs the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

BATCH_MAX = 100
NOT_UNIQUE = "not unique"


@dataclass(frozen=True, slots=True)
class Result:
    puid: str
    state: str  # accepted | rejected | pending (try again later)
    uuid: str | None = None
    error: str = ""


class TdbClient:
    def __init__(self, base_url: str, token: str, client: httpx.AsyncClient | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.client = client or httpx.AsyncClient(timeout=30)

    async def close(self) -> None:
        await self.client.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response | str:
        try:
            return await self.client.post(f"{self.base}{path}", json=body, headers=self.headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]

    async def submit(self, statements: list[dict[str, Any]]) -> list[Result]:
        """Submit up to 100 statements; every one comes back accepted, rejected or still pending."""
        if not statements:
            return []
        if len(statements) > BATCH_MAX:
            raise ValueError(f"at most {BATCH_MAX} statements per call")
        answer = await self._post("/statements", {"statements": statements})
        if isinstance(answer, str) or answer.status_code not in (201, 422):
            error = answer if isinstance(answer, str) else f"HTTP {answer.status_code}"
            return [Result(s["puid"], "pending", error=error) for s in statements]
        if answer.status_code == 422:  # all or nothing: find out which one by one
            return [await self.submit_one(s) for s in statements]
        stored = {s.get("puid"): s.get("uuid") for s in _json(answer).get("statements", []) if isinstance(s, dict)}
        return [Result(s["puid"], "accepted", stored.get(s["puid"])) for s in statements]

    async def submit_one(self, statement: dict[str, Any]) -> Result:
        puid = statement["puid"]
        answer = await self._post("/statement", statement)
        if isinstance(answer, str):
            return Result(puid, "pending", error=answer)
        body = _json(answer)
        if answer.status_code == 201:
            return Result(puid, "accepted", body.get("uuid"))
        if answer.status_code == 422:
            if NOT_UNIQUE in str(body.get("message", "")):
                existing = body.get("existing") or {}
                return Result(puid, "accepted", existing.get("uuid") if isinstance(existing, dict) else None)
            return Result(puid, "rejected", error=str(body.get("errors") or body.get("message"))[:2000])
        return Result(puid, "pending", error=f"HTTP {answer.status_code}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
