"""A bounded schemathesis pass over the whole OpenAPI document against a real server with a live space,
anonymous and with a host's bearer token: any 5xx fails, and so does any status code the document does
not list for its operation (schemathesis's `status_code_conformance`), so the document stays true
(issue 14, "Bad input, found by fuzzing"). Every operation is fuzzed, paths included."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support.api import live_space, register
from tests.support.servers import live_server
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(120)

LAST = {("DELETE", "/api/sessions/current"), ("POST", "/api/spaces/{space_id}/end")}
EXAMPLES = 480  # per pass (anonymous, then with a token), spread over the operations
BUDGET_S = 22.0  # per pass: the pass stops generating when it is spent


def _fuzz(
    document: dict[str, Any], base_url: str, headers: dict[str, str], space_id: str
) -> tuple[list[str], int, int]:
    """(5xx answers, operations fuzzed, requests sent)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import status_code_conformance

    schema = schemathesis.openapi.from_dict(document)
    operations = [r.ok() for r in schema.get_all_operations() if r.ok() is not None]
    # last, what ends the pass's own setting: signing the host out, ending the live space
    operations.sort(key=lambda o: (o.method.upper(), o.path) in LAST)
    per_operation = max(1, EXAMPLES // max(1, len(operations)))
    failures: list[str] = []
    sent = [0]
    fuzzed = 0
    deadline = time.monotonic() + BUDGET_S
    for operation in operations:
        if time.monotonic() > deadline:
            break
        fixed = {"space_id": space_id} if "{space_id}" in operation.path else None
        strategy = operation.as_strategy(path_parameters=fixed)

        @settings(
            max_examples=per_operation,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            sent[0] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
            if response.status_code >= 500:
                failures.append(where)
            try:
                case.validate_response(response, checks=[status_code_conformance])
            except FailureGroup:  # schemathesis's failures of the check, one group per response
                failures.append(f"undocumented status: {where}")

        check()
        fuzzed += 1
    return failures, fuzzed, sent[0]


async def test_no_fuzzed_request_gets_a_5xx(settings: Settings) -> None:
    # the fuzzer's thread shares the interpreter with the server: its CPU must not look like a standing queue
    async with live_server(settings.model_copy(update={"shed_loop_lag_ms": 60_000.0})) as server, server.client() as c:
        host = await register(c)
        space = await live_space(c, host)
        document = (await c.get("/api/openapi.json")).json()
        operations = sum(1 for methods in document["paths"].values() for m in methods if m != "parameters")
        anonymous, fuzzed_a, sent_a = await asyncio.to_thread(_fuzz, document, server.url, {}, space["id"])
        signed_in, fuzzed_b, sent_b = await asyncio.to_thread(_fuzz, document, server.url, host["headers"], space["id"])
    print(f"fuzzed {fuzzed_a}+{fuzzed_b} of {operations} operations with {sent_a}+{sent_b} requests")
    for failure in anonymous + signed_in:
        print(failure)
    assert anonymous == [] and signed_in == [], f"{len(anonymous + signed_in)} failures, printed above"
    assert min(sent_a, sent_b) >= fuzzed_a and fuzzed_a >= operations * 3 // 4, "the pass hardly ran"
