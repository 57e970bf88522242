"""Clients back off (decision 0010): N clients retrying against a service answering 503 with
Retry-After never call, together, more than 1.2 times as often as they do when all is well, whether
their calls were spread out or all landed at once. The pages' helper (web/backoff.js) runs under node
in simulated time (tests/web/backoff_sim.mjs); its Python twin (domain/backoff.py) in the same model.
Two naive strategies are run too, so the bound is seen to bite."""

from __future__ import annotations

import heapq
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from townhall.domain import backoff

HERE = Path(__file__).parent
HELPER = HERE.parent.parent / "src" / "townhall" / "web" / "backoff.js"
LIMIT = 1.2


@pytest.fixture(scope="module")
def js_results() -> dict[str, float]:
    node = shutil.which("node")
    assert node, "node is needed to run the pages' helper"
    out = subprocess.run(
        [node, str(HERE / "backoff_sim.mjs"), HELPER.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: dict[str, float] = json.loads(out.stdout)
    return results


@pytest.mark.parametrize("scenario", ["staggered", "together"])
def test_the_pages_helper_keeps_the_retry_rate_within_1_2_of_the_steady_rate(
    js_results: dict[str, float], scenario: str
) -> None:
    assert js_results[f"helper/{scenario}"] <= LIMIT, js_results


def test_naive_retries_would_storm_the_service(js_results: dict[str, float]) -> None:
    assert js_results["fixed_1s/staggered"] > LIMIT and js_results["fixed_1s/together"] > LIMIT
    assert js_results["doubling_no_jitter/together"] > LIMIT  # no jitter: a herd every doubling


def _python_run(scenario: str, n: int = 5000, p: float = 10.0, outage: float = 60.0, until: float = 150.0) -> float:
    rand = random.Random(7).random
    win, retry_after = 2.0, 1.0
    calls = [(0.0 if scenario == "together" else rand() * p, i) for i in range(n)]
    heapq.heapify(calls)
    attempt = [0] * n
    retries = [0] * int(until / win + 1)
    while calls[0][0] < until:
        t, i = heapq.heappop(calls)
        if attempt[i] > 0:
            retries[int(t / win)] += 1
        if t < outage:
            attempt[i] += 1
            heapq.heappush(calls, (t + backoff.delay(attempt[i], retry_after, base_s=p, cap_s=120.0, rand=rand), i))
        else:
            attempt[i] = 0
            heapq.heappush(calls, (t + p, i))
    return max(retries) / (n / p * win)


@pytest.mark.parametrize("scenario", ["staggered", "together"])
def test_the_python_helper_keeps_the_retry_rate_within_1_2_of_the_steady_rate(scenario: str) -> None:
    assert _python_run(scenario) <= LIMIT


def test_retry_after_is_honoured_and_read_in_both_forms() -> None:
    assert all(backoff.delay(k, 7.0, rand=random.random) >= 7.0 for k in range(1, 20))
    assert backoff.delay(30, 0.0, lambda: 0.999, base_s=1, cap_s=60) < 60
    assert backoff.retry_after_s("5", 0.0) == 5.0
    assert backoff.retry_after_s("Thu, 01 Jan 1970 00:00:30 GMT", 0.0) == 30.0
    assert backoff.retry_after_s("soon", 0.0) == 0.0 and backoff.retry_after_s(None, 0.0) == 0.0
    assert backoff.retryable(503) and backoff.retryable(429) and backoff.retryable(0)
    assert not backoff.retryable(404)
