"""The public documents a flood asks for are computed once per change (issue 14): the transparency
report once per change of the trust records, whatever the number of requests; the OpenAPI document and
the reference page once per process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.api import live_space
from tests.trust.conftest import Staff
from tests.trust.support import notice
from townhall.api.trust import records


async def test_the_report_is_computed_once_per_change(
    tc: httpx.AsyncClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = []
    real = records.report

    async def counting(*args: Any) -> dict[str, Any]:
        computed.append(args[2:])
        return await real(*args)

    monkeypatch.setattr(records, "report", counting)
    answers = await asyncio.gather(*(tc.get("/api/transparency") for _ in range(20)), tc.get("/transparency"))
    assert {a.status_code for a in answers} == {200}
    assert len(computed) == 1, computed
    before = answers[0].json()

    host = await staff()
    space = await live_space(tc, host)
    await notice(tc, space["id"])  # a change of the records: the next request computes them again
    after = (await tc.get("/api/transparency")).json()
    assert len(computed) == 2 and after != before
    assert (await tc.get("/api/transparency")).json() == after and len(computed) == 2


async def test_the_api_documents_are_rendered_once(
    tc: httpx.AsyncClient, trust_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from townhall.api import ops

    rendered = []
    real = ops.openapi_document

    def counting(*args: Any) -> dict[str, Any]:
        rendered.append(1)
        return real(*args)

    monkeypatch.setattr(ops, "openapi_document", counting)
    for _ in range(5):
        assert (await tc.get("/api/openapi.json")).status_code == 200
        assert (await tc.get("/api/docs")).status_code == 200
    assert len(rendered) == 2  # one for each document, never again
