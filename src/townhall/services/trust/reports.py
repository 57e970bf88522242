"""Reading trust and safety for reports: the transparency report of a period and the statements of
reasons to export in the Transparency Database format. Reads only.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from townhall.domain.errors import Invalid
from townhall.domain.moderation import Decision
from townhall.store.sql.repos_trust import TrustRepo
from townhall.trust import transparency


def period(start: str, end: str) -> tuple[float, float]:
    """Inclusive calendar dates (YYYY-MM-DD, UTC) as [start, end + 1 day) in Unix seconds."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except (TypeError, ValueError) as exc:
        raise Invalid("invalid_period", "from and to are dates as YYYY-MM-DD") from exc
    if last < first:
        raise Invalid("invalid_period", "the period ends before it starts")
    begin = datetime(first.year, first.month, first.day, tzinfo=UTC)
    stop = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return begin.timestamp(), stop.timestamp()


async def report(repo: TrustRepo, platform: str, start: str, end: str) -> dict[str, Any]:
    t0, t1 = period(start, end)
    notices = await repo.notices_between(t0, t1)
    appeals = await repo.appeals_between(t0, t1)
    wanted = {n.decision_id for n in notices if n.decision_id} | {a.decision_id for a in appeals}
    linked: dict[str, Decision] = {}
    for decision_id in sorted(wanted):
        found = await repo.decision(decision_id)
        if found is not None:
            linked[found.id] = found
    return transparency.figures(
        platform,
        (start, end),
        notices,
        await repo.decisions_between(t0, t1),
        linked,
        appeals,
        await repo.measures_between(t0, t1),
        await repo.orders_between(t0, t1),
        await repo.restrictions_between(t0, t1),
        await repo.disputes_between(t0, t1),
        await repo.referrals_between(t0, t1),
    )


async def tdb_statements(repo: TrustRepo, start: str, end: str) -> list[dict[str, Any]]:
    """Every Transparency Database statement of the period, oldest first, one per decision."""
    t0, t1 = period(start, end)
    seen: set[str] = set()
    out = []
    for row in await repo.statements_between(t0, t1):
        if row["tdb_payload"] and row["decision_id"] not in seen:
            seen.add(row["decision_id"])
            out.append(json.loads(row["tdb_payload"]))
    return out
