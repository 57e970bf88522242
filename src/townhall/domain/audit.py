"""The audit log's hash chain: how an entry is hashed and how a whole chain is verified.

Pure: entries come in as plain data; storing and reading them is the store's job. Never changes the format
of existing entries (docs/decisions/0004-audit-hash-chain.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

GENESIS = "0" * 64


def canonical(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: float
    actor_kind: str
    actor_id: str
    action: str
    object_type: str
    object_id: str
    payload: Mapping[str, object]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, object]:
        return {
            "actor_kind": self.actor_kind,
            "actor_id": self.actor_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "payload": dict(self.payload),
        }


def entry_hash(prev_hash: str, seq: int, at: float, body: Mapping[str, object]) -> str:
    """SHA-256 over the previous hash, the sequence number, the time and the canonical body."""
    text = f"{prev_hash}\n{seq}\n{at:.6f}\n{canonical(body)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(
    prev_hash: str,
    seq: int,
    at: float,
    actor_kind: str,
    actor_id: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: Mapping[str, object],
) -> AuditEntry:
    draft = AuditEntry(seq, at, actor_kind, actor_id, action, object_type, object_id, payload, prev_hash, "")
    return replace(draft, hash=entry_hash(prev_hash, seq, at, draft.body()))


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(entries: Iterable[AuditEntry], prev: str = GENESIS, first_seq: int = 1) -> Verification:
    """Walk the chain: sequence gapless from `first_seq`, each entry links to the one before (`prev` for
    the first), and each hash recomputes. Any edit, deletion, insertion or reordering is found.
    Pages of a long chain are verified one after the other by passing the last good hash on."""
    expected = first_seq
    checked = 0
    for entry in entries:
        if entry.seq != expected:
            return Verification(False, checked, entry.seq, f"expected entry {expected}, found {entry.seq}")
        if entry.prev_hash != prev:
            return Verification(False, checked, entry.seq, "does not link to the entry before it")
        if entry_hash(entry.prev_hash, entry.seq, entry.at, entry.body()) != entry.hash:
            return Verification(False, checked, entry.seq, "its content does not match its hash")
        prev = entry.hash
        expected += 1
        checked += 1
    return Verification(True, checked)
