"""The "under attack" proof of work (decision 0010): hashcash over SHA-256 with a server-signed,
expiring, space-bound challenge, solved in the listener's page before a join is answered.

Challenge: `c1.<space>.<expires>.<bits>.<id>.<sig>`, sig the first 32 hex of HMAC-SHA256 of the rest.
A solution is a nonce (1-64 of [A-Za-z0-9_-]) such that SHA-256(challenge ":" nonce) starts with
`bits` zero bits. Checking costs one HMAC and one SHA-256; the caller makes each `id` usable once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from townhall.domain.tokens import FIELD, hmac_hex

VERSION = "c1"
NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Challenge:
    text: str
    id: str
    expires: int
    bits: int


def issue(key: bytes, space_id: str, now: float, ttl_s: int, bits: int, random_id: str) -> Challenge:
    if not FIELD.match(space_id) or not FIELD.match(random_id):
        raise ValueError("challenge fields must be URL safe")
    expires = int(now) + ttl_s
    body = f"{VERSION}.{space_id}.{expires}.{bits}.{random_id}"
    return Challenge(f"{body}.{hmac_hex(key, body.encode())[:32]}", random_id, expires, bits)


def zero_bits(digest: bytes) -> int:
    """Leading zero bits of a digest."""
    n = 0
    for byte in digest:
        if byte == 0:
            n += 8
            continue
        return n + 8 - byte.bit_length()
    return n


def digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def check(challenge: str, nonce: str, key: bytes, space_id: str, now: float, min_bits: int) -> Challenge | None:
    """The challenge when `nonce` solves it for this space, unexpired, at `min_bits` or more; else None
    (which of the checks failed is never told: a failing client is shown the decoy queue)."""
    parts = challenge.split(".") if len(challenge) <= 300 else []
    if len(parts) != 6 or parts[0] != VERSION or not NONCE.match(nonce):
        return None
    _, space, exp_s, bits_s, random_id, sig = parts
    body = challenge[: challenge.rfind(".")]
    if not hmac.compare_digest(hmac_hex(key, body.encode())[:32], sig):
        return None
    if space != space_id or not exp_s.isdigit() or int(exp_s) <= now or not bits_s.isdigit():
        return None
    bits = int(bits_s)
    if bits < min_bits or zero_bits(digest(challenge, nonce)) < bits:
        return None
    return Challenge(challenge, random_id, int(exp_s), bits)


def solve(challenge: str, bits: int) -> str:
    """A nonce that solves `challenge` (what the page does, in Python: for tests and bundled clients)."""
    n = 0
    while zero_bits(digest(challenge, str(n))) < bits:
        n += 1
    return str(n)
