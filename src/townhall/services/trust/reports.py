"""Reading trust and safety for reports: the transparency report of a period and the statements of
reasons to export in the Transparency Database format. Reads only.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from townhall.domain.errors import Invalid
from townhall.domain.moderation import Decision
from townhall.services.trust.ports import StatementStore, TrustStores
from townhall.trust import transparency


def period(start: str, end: str) -> tuple[float, float]:
    """Inclusive calendar dates (YYYY-MM-DD, UTC) as [start, end + 1 day) in Unix seconds."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except (TypeError, ValueError) as exc:
        raise Invalid("invalid_period", "from and to are dates as YYYY-MM-DD") from exc
    if last < first:
        raise Invalid("invalid_period", "the period ends before it starts")
    if last >= date.max:  # the day after it, where the period stops, is past what a date can hold
        raise Invalid("invalid_period", f"to must be before {date.max.isoformat()}")
    begin = datetime(first.year, first.month, first.day, tzinfo=UTC)
    stop = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return begin.timestamp(), stop.timestamp()


async def report(stores: TrustStores, platform: str, start: str, end: str) -> dict[str, Any]:
    t0, t1 = period(start, end)
    notices = await stores.notices.between(t0, t1)
    appeals = await stores.appeals.between(t0, t1)
    wanted = {n.decision_id for n in notices if n.decision_id} | {a.decision_id for a in appeals}
    linked: dict[str, Decision] = {}
    for decision_id in sorted(wanted):
        found = await stores.decisions.get(decision_id)
        if found is not None:
            linked[found.id] = found
    return transparency.figures(
        platform,
        (start, end),
        notices,
        await stores.decisions.between(t0, t1),
        linked,
        appeals,
        await stores.misuse.measures_between(t0, t1),
        await stores.orders.between(t0, t1),
        await stores.restrictions.between(t0, t1),
        await stores.disputes.between(t0, t1),
        await stores.referrals.between(t0, t1),
    )


async def tdb_statements(statements: StatementStore, start: str, end: str) -> list[dict[str, Any]]:
    """Every Transparency Database statement of the period, oldest first, one per decision."""
    t0, t1 = period(start, end)
    seen: set[str] = set()
    out = []
    for statement in await statements.between(t0, t1):
        if statement.tdb_payload and statement.decision_id not in seen:
            seen.add(statement.decision_id)
            out.append(json.loads(statement.tdb_payload))
    return out
