"""The audit log as operators use it: verify the whole hash chain page by page, export entries as
NDJSON. Reads only; entries are appended by the services inside their own transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from townhall.domain import audit
from townhall.services.trust.ports import AuditReader

PAGE = 1000


async def verify(log: AuditReader) -> audit.Verification:
    """Recompute the chain end to end, and check it ends where the head row says (no truncation)."""
    head_seq, head_hash = await log.head()
    prev, seq, checked = audit.GENESIS, 1, 0
    while True:
        page = await log.entries(after_seq=seq - 1, limit=PAGE)
        result = audit.verify(page, prev, seq)
        checked += result.checked
        if not result.ok:
            return audit.Verification(False, checked, result.first_bad_seq, result.problem)
        if len(page) < PAGE:
            last_seq, last_hash = (page[-1].seq, page[-1].hash) if page else (seq - 1, prev)
            if (last_seq, last_hash) != (head_seq, head_hash):
                return audit.Verification(False, checked, last_seq + 1, f"the chain ends before entry {head_seq}")
            return audit.Verification(True, checked)
        prev, seq = page[-1].hash, page[-1].seq + 1


def as_json(entry: audit.AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        **entry.body(),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


async def export(log: AuditReader, start: float, end: float) -> AsyncIterator[dict[str, Any]]:
    for entry in await log.between(start, end):
        yield as_json(entry)
