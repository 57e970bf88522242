"""Request bodies the trust tests share: a notice, decisions of each kind."""

from __future__ import annotations

from typing import Any

import httpx

HATE = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"


def notice_body(target_id: str, kind: str = "space", **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"kind": kind, "id": target_id, "media_start_ms": 61_000, "media_end_ms": 75_000}],
        "category": HATE,
        "keywords": ["KEYWORD_HATE_SPEECH"],
        "explanation": "The speaker incites hatred against a group at 01:01.",
        "bona_fide": True,
        **extra,
    }


ILLEGAL = {
    "ground": "illegal",
    "legal_ground": "Section 130 German Criminal Code",
    "legal_explanation": "Statements inciting hatred against a group defined by national origin.",
    "category": HATE,
    "keywords": ["KEYWORD_HATE_SPEECH"],
}
TERMS = {
    "ground": "incompatible",
    "tos_ground": "Terms of Service section 5.1",
    "tos_explanation": "Targeted harassment of another speaker.",
    "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
}


async def notice(client: httpx.AsyncClient, target_id: str, headers: dict[str, str] | None = None, **extra: Any) -> str:
    r = await client.post("/api/notices", json=notice_body(target_id, **extra), headers=headers or {})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def decide(client: httpx.AsyncClient, moderator: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await client.post("/api/admin/decisions", json=body, headers=moderator["headers"])
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out
