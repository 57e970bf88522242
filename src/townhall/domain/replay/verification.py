"""Verification of a replay: names which segment was changed, dropped, added or reordered."""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from townhall.domain.replay.chain import Link, extend, find_gaps, genesis
from townhall.domain.replay.manifest import canonical, unb64url
from townhall.domain.replay.playlist import playlist_uris


@dataclass(slots=True)
class Verdict:
    """What verification found: `problems` (each one sentence naming the segment) and plain `facts`."""

    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems

    def text(self) -> str:
        head = "verified" if self.verified else "NOT verified"
        return "\n".join([head, *(f"  - {p}" for p in self.problems), *(f"  {f}" for f in self.facts)])


def parse_signed(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, signature) of a manifest file; ValueError when it is not one."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the manifest is not JSON") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("payload"), dict)
        or not isinstance(doc.get("signature"), dict)
    ):
        raise ValueError("the manifest has no payload and signature")
    return doc["payload"], doc["signature"]


def check_signature(
    payload: dict[str, Any], signature: dict[str, Any], keys: dict[str, Ed25519PublicKey]
) -> str | None:
    """None when the signature holds under a published key, else the problem in one sentence."""
    kid = str(signature.get("kid", ""))
    key = keys.get(kid)
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        return f"the manifest is signed by key {kid!r}, which is not among the platform's published keys ({known})"
    try:
        key.verify(unb64url(str(signature.get("sig", ""))), canonical(payload))
    except (InvalidSignature, ValueError):
        return f"the manifest signature does not verify under key {kid!r}: the manifest was altered or forged"
    return None


def links_of(payload: dict[str, Any]) -> list[Link]:
    return [
        Link(
            int(s["msn"]),
            int(s["media_time"]),
            int(s["duration"]),
            str(s["sha256"]),
            str(s["uri"]),
            int(s["program_date_time_ms"]),
            str(s["head"]),
        )
        for s in payload.get("segments", [])
    ]


def check_chain(payload: dict[str, Any], links: list[Link]) -> list[str]:
    """Recompute every head from the segment hashes; the manifest's heads and gaps must agree."""
    problems: list[str] = []
    previous: Link | None = None
    space_id = str(payload.get("space_id", ""))
    for link in links:
        try:
            expected = extend(
                previous,
                space_id,
                msn=link.msn,
                media_time=link.media_time,
                duration=link.duration,
                sha256=link.sha256,
                uri=link.uri,
                program_date_time_ms=link.program_date_time_ms,
            )
        except ValueError as exc:
            return [f"the manifest's segment list is malformed at segment {link.msn}: {exc}"]
        if expected.head != link.head:
            return [f"the manifest's hash chain breaks at segment {link.msn}"]
        previous = link
    final = links[-1].head if links else genesis(space_id)
    if payload.get("final_head") != final:
        problems.append("the manifest's final head is not the head of its chain")
    # every programme starts at segment 0: a replay whose first segments were never stored opens with a gap
    if payload.get("gaps") != [g.as_json() for g in find_gaps(links)]:
        problems.append("the manifest's gap records do not match its segments")
    return problems


def _lis_positions(seq: list[int]) -> set[int]:
    """Positions of one longest strictly increasing subsequence of `seq`."""
    tails: list[int] = []
    tail_pos: list[int] = []
    parent = [-1] * len(seq)
    for i, v in enumerate(seq):
        j = bisect.bisect_left(tails, v)
        if j == len(tails):
            tails.append(v)
            tail_pos.append(i)
        else:
            tails[j] = v
            tail_pos[j] = i
        parent[i] = tail_pos[j - 1] if j > 0 else -1
    keep: set[int] = set()
    i = tail_pos[-1] if tail_pos else -1
    while i >= 0:
        keep.add(i)
        i = parent[i]
    return keep


def compare_segments(links: list[Link], played: list[str], hashes: dict[str, str | None]) -> list[str]:
    """Which signed segments the playlist changed, dropped, added or reordered, by content and by name."""
    by_hash = {x.sha256: i for i, x in enumerate(links)}
    by_uri = {x.uri: i for i, x in enumerate(links)}
    problems: list[str] = []
    identities: list[int] = []
    for position, uri in enumerate(played):
        digest = hashes.get(uri)
        if digest is not None and digest in by_hash:
            identities.append(by_hash[digest])
        elif uri in by_uri:
            x = links[by_uri[uri]]
            if digest is None:
                problems.append(f"segment {x.msn} ({uri}) was dropped: the playlist names it but the file is missing")
                continue
            problems.append(
                f"segment {x.msn} ({uri}) was changed: its SHA-256 is {digest[:16]}..., "
                f"the signed manifest says {x.sha256[:16]}..."
            )
            identities.append(by_uri[uri])
        else:
            problems.append(f"a segment that is not in the signed manifest was added: {uri} at position {position}")
    counts = Counter(identities)
    for i, n in sorted(counts.items()):
        if n > 1:
            problems.append(f"segment {links[i].msn} ({links[i].uri}) was added: the replay plays it {n} times")
    for i, x in enumerate(links):
        if i not in counts and not any(p.startswith(f"segment {x.msn} ") for p in problems):
            problems.append(f"segment {x.msn} ({x.uri}) was dropped: it is in the signed manifest but is not played")
    firsts = list(dict.fromkeys(identities))
    ordered = _lis_positions(firsts)
    for pos, i in enumerate(firsts):
        if pos not in ordered:
            after = f"after segment {links[firsts[pos - 1]].msn}" if pos > 0 else "first"
            problems.append(f"segment {links[i].msn} ({links[i].uri}) was reordered: it plays {after}, out of order")
    return problems


def check_commitments(links: list[Link], commitments: list[tuple[int, str]]) -> tuple[list[str], str]:
    """Compare heads captured live with the replay's chain: (problems, a fact for the report)."""
    heads = {x.msn: x.head for x in links}
    for msn, head in sorted(set(commitments)):
        if msn not in heads:
            return [
                f"segment {msn} was dropped: a head was captured live for it but the replay has no such segment"
            ], ""
        if heads[msn] != head:
            return [
                f"the replay does not match the head captured live at segment {msn}: "
                f"a segment at or before {msn} differs from what was heard"
            ], ""
    n = len(set(commitments))
    return [], f"matches all {n} chain heads captured live" if n else ""


def verify(
    manifest: bytes,
    playlist: str,
    hashes: dict[str, str | None],
    keys: dict[str, Ed25519PublicKey],
    commitments: list[tuple[int, str]] | None = None,
) -> Verdict:
    """Check a replay end to end; `hashes` holds the SHA-256 of every file fetched (None: missing)."""
    verdict = Verdict()
    try:
        payload, signature = parse_signed(manifest)
        links = links_of(payload)
    except (ValueError, KeyError, TypeError) as exc:
        verdict.problems.append(f"the manifest cannot be read: {exc}")
        return verdict
    problem = check_signature(payload, signature, keys)
    if problem:
        verdict.problems.append(problem)
    verdict.problems += check_chain(payload, links)
    verdict.problems += compare_segments(links, playlist_uris(playlist), hashes)
    files = payload.get("files", {})
    for name, expected in sorted(files.items() if isinstance(files, dict) else []):
        got = hashes.get(name)
        if got is None:
            verdict.problems.append(f"{name} is missing")
        elif got != expected:
            verdict.problems.append(f"{name} was changed: its SHA-256 does not match the signed manifest")
    if commitments is not None:
        problems, fact = check_commitments(links, commitments)
        verdict.problems += problems
        if fact:
            verdict.facts.append(fact)
    gaps = payload.get("gaps", [])
    verdict.facts.insert(
        0,
        f"space {payload.get('space_id')}: {len(links)} segments, {len(gaps)} gap(s){_missing(gaps)}, "
        f"final head {str(payload.get('final_head'))[:16]}..., signed by key {signature.get('kid')!r}",
    )
    return verdict


def _missing(gaps: list[dict[str, Any]]) -> str:
    """The wall-clock time the gaps leave out, when there are any (missing segments and stalls alike)."""
    if not gaps:
        return ""
    missing_s = sum(int(g.get("milliseconds", 0)) for g in gaps) / 1000
    return f" ({missing_s:.1f} s the programme did not carry)"
