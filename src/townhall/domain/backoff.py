"""Retrying without storming a recovering service (decision 0010): exponential backoff with full jitter,
never sooner than the server's Retry-After. The one helper of the bundled Python clients (the synthetic
speakers, the benches); web/backoff.js is its twin for the pages. Pure: the caller sleeps.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable

BASE_S = 1.0
CAP_S = 60.0


def retryable(status: int) -> bool:
    """Worth another try: no answer (0), too many requests, or the server failed."""
    return status == 0 or status == 429 or status >= 500


def retry_after_s(header: str | None, now: float) -> float:
    """Seconds in a Retry-After header (delta-seconds or an HTTP date); 0 when absent or unreadable."""
    if not header:
        return 0.0
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        at = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, at - now)


def delay(
    attempt: int,
    retry_after: float,
    rand: Callable[[], float],
    base_s: float = BASE_S,
    cap_s: float = CAP_S,
) -> float:
    """The wait before retry number `attempt` (1 for the first): Retry-After, then a uniform draw in
    [0, min(cap, base * 2**attempt)); `base_s` is the call's steady cadence, `rand` a uniform [0, 1)
    source (`random.random`: the domain draws nothing itself)."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt))
    return float(max(0.0, retry_after) + rand() * ceiling)
