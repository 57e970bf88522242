"""The replay's signed manifest: its canonical bytes, its payload and its Ed25519 signature."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from townhall.domain.replay.chain import CHAIN_VERSION, TIMESCALE, Gap, Link, genesis

MANIFEST_VERSION = 1


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
