"""The replay's evidence: the hash chain over segments, gap records, the signed manifest, the VOD playlist,
and the verification that names which segment was changed, dropped, added or reordered.

Pure: no I/O, no clock. The chain format is decision 0005; changing a byte of it breaks every replay.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHAIN_VERSION = "townhall-replay-chain/v1"
MANIFEST_VERSION = 1
TIMESCALE = 48_000  # media time and durations are counted in samples at 48 kHz
GAP_TOLERANCE_S = 1.0  # more wall-clock time than this between two segments is a gap


@dataclass(frozen=True, slots=True)
class Link:
    """One segment as the chain commits to it, and the head after it."""

    msn: int  # media sequence number (the segment's index)
    media_time: int  # first sample on the programme timeline, in 1/TIMESCALE s
    duration: int  # in samples
    sha256: str  # hex digest of the segment's bytes
    uri: str  # segment file name, relative to the playlist
    program_date_time_ms: int  # Unix milliseconds of its first sample's capture
    head: str  # hex chain head after this segment


@dataclass(frozen=True, slots=True)
class Gap:
    """Audio that listeners did not hear: segments never stored, or wall-clock time with no audio."""

    after_msn: int | None  # the last segment before the gap (None: the replay starts with it)
    before_msn: int
    missing: tuple[int, ...]  # media sequence numbers never recorded
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "after_msn": self.after_msn,
            "before_msn": self.before_msn,
            "missing": list(self.missing),
            "milliseconds": round(self.seconds * 1000),
        }


def genesis(space_id: str) -> str:
    """The head before the first segment: binds the chain to its space."""
    return hashlib.sha256(f"{CHAIN_VERSION}:{space_id}".encode()).hexdigest()


def next_head(previous: str, sha256: str, msn: int, media_time: int) -> str:
    """SHA-256 over the previous head, the segment's hash, its index and its media time (64-bit big endian)."""
    if msn < 0 or media_time < 0:
        raise ValueError("msn and media time must be non-negative")
    data = bytes.fromhex(previous) + bytes.fromhex(sha256) + msn.to_bytes(8, "big") + media_time.to_bytes(8, "big")
    return hashlib.sha256(data).hexdigest()


def extend(
    previous: Link | None,
    space_id: str,
    *,
    msn: int,
    media_time: int,
    duration: int,
    sha256: str,
    uri: str,
    program_date_time_ms: int,
) -> Link:
    """The link for the next segment; segments must arrive in increasing index order."""
    if previous is not None and msn <= previous.msn:
        raise ValueError(f"segment {msn} arrived after segment {previous.msn}")
    if len(sha256) != 64:
        raise ValueError("sha256 must be 64 hex digits")
    prev_head = previous.head if previous is not None else genesis(space_id)
    head = next_head(prev_head, sha256, msn, media_time)
    return Link(msn, media_time, duration, sha256, uri, program_date_time_ms, head)


def find_gaps(links: list[Link], first_msn: int = 0) -> list[Gap]:
    """Missing indices, and wall-clock jumps (a media node restarted) between consecutive segments."""
    gaps: list[Gap] = []
    if links and links[0].msn > first_msn:
        gaps.append(Gap(None, links[0].msn, tuple(range(first_msn, links[0].msn)), 0.0))
    for prev, cur in itertools.pairwise(links):
        missing = tuple(range(prev.msn + 1, cur.msn))
        expected_ms = prev.program_date_time_ms + prev.duration * 1000 // TIMESCALE
        silent_s = (cur.program_date_time_ms - expected_ms) / 1000
        if missing or silent_s > GAP_TOLERANCE_S:
            gaps.append(Gap(prev.msn, cur.msn, missing, max(0.0, silent_s)))
    return gaps


# --- the manifest --------------------------------------------------------------------------------
def canonical(obj: object) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, ASCII, integers only (no floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def build_manifest(
    space_id: str,
    links: list[Link],
    gaps: list[Gap],
    files: dict[str, str],
    ended_at_ms: int,
    keys_url: str,
) -> dict[str, Any]:
    """Every segment hash, every gap and the final head; `files` maps init/download names to their SHA-256."""
    return {
        "version": MANIFEST_VERSION,
        "chain": CHAIN_VERSION,
        "space_id": space_id,
        "timescale": TIMESCALE,
        "segments": [
            {
                "msn": x.msn,
                "media_time": x.media_time,
                "duration": x.duration,
                "sha256": x.sha256,
                "uri": x.uri,
                "program_date_time_ms": x.program_date_time_ms,
                "head": x.head,
            }
            for x in links
        ],
        "gaps": [g.as_json() for g in gaps],
        "files": dict(sorted(files.items())),
        "final_head": links[-1].head if links else genesis(space_id),
        "ended_at_ms": ended_at_ms,
        "keys_url": keys_url,
    }


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_manifest(payload: dict[str, Any], kid: str, key: Ed25519PrivateKey) -> bytes:
    """The published manifest file: the payload and an Ed25519 signature over its canonical bytes."""
    signature = {"alg": "EdDSA", "kid": kid, "sig": b64url(key.sign(canonical(payload)))}
    return json.dumps({"payload": payload, "signature": signature}, indent=1, sort_keys=True).encode() + b"\n"


def public_jwk(kid: str, key: Ed25519PublicKey, status: str) -> dict[str, str]:
    """An Ed25519 public key as a JWK (RFC 8037)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": b64url(raw),
        "status": status,
    }


def keys_from_jwks(doc: object) -> dict[str, Ed25519PublicKey]:
    """Public keys by kid from a JWK set ({"keys": [...]}); entries that are not Ed25519 are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    entries = doc.get("keys") if isinstance(doc, dict) else None
    for jwk in entries if isinstance(entries, list) else []:
        if isinstance(jwk, dict) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            try:
                keys[str(jwk["kid"])] = Ed25519PublicKey.from_public_bytes(unb64url(str(jwk["x"])))
            except (KeyError, ValueError):
                continue
    return keys


# --- the VOD playlist ----------------------------------------------------------------------------
def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def vod_playlist(links: list[Link], gaps: list[Gap], init_uri: str = "init.mp4") -> str:
    """RFC 8216 VOD playlist over the recorded segments; missing ones are EXT-X-GAP, restarts discontinuities."""
    target = max((x.duration for x in links), default=TIMESCALE)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:8",
        f"#EXT-X-TARGETDURATION:{max(1, -(-target // TIMESCALE))}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-MEDIA-SEQUENCE:{links[0].msn if links else 0}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init_uri}"',
    ]
    before = {g.before_msn: g for g in gaps if g.after_msn is not None}
    for i, link in enumerate(links):
        gap = before.get(link.msn)
        if gap is not None:
            prev = links[i - 1]
            span = link.media_time - (prev.media_time + prev.duration)
            each = span // len(gap.missing) if gap.missing and span > 0 else prev.duration
            for msn in gap.missing:
                lines += ["#EXT-X-GAP", f"#EXTINF:{each / TIMESCALE:.5f},", f"s{msn}.m4s"]
            lines.append("#EXT-X-DISCONTINUITY")
        if i == 0 or gap is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(link.program_date_time_ms)}")
        lines += [f"#EXTINF:{link.duration / TIMESCALE:.5f},", link.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def playlist_uris(text: str) -> list[str]:
    """The segment URIs a player would fetch, in order (EXT-X-GAP entries are not fetched)."""
    uris: list[str] = []
    gap = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "#EXT-X-GAP":
            gap = True
        elif not line.startswith("#"):
            if not gap:
                uris.append(line)
            gap = False
    return uris


# --- verification --------------------------------------------------------------------------------
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
    import bisect

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
        f"space {payload.get('space_id')}: {len(links)} segments, {len(gaps)} gap(s), "
        f"final head {str(payload.get('final_head'))[:16]}..., signed by key {signature.get('kid')!r}",
    )
    return verdict
