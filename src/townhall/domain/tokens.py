"""Signed tokens: the listener and speaker tokens the edge and the media node check without a lookup.

Format (decision 0001): `v1.<kid>.<scope>.<space>.<subject>.<exp>.<flags>.<sig>` where sig is the
hex HMAC-SHA256 of everything before the last dot under key `kid`. Every field is [A-Za-z0-9_-] so a
VCL regex can split it; `exp` is whole Unix seconds. The token never enters a cache key.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from townhall.domain.errors import Forbidden, Unauthenticated

VERSION = "v1"
FIELD = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


class Scope(StrEnum):
    LISTEN = "l"  # fetch the space's stream through the edge
    SPEAK = "s"  # publish over WHIP (host, co-hosts, speakers)
    WAIT = "w"  # a place in a space's waiting room: polls it, fetches nothing (decision 0010)
    SESSION = "u"  # a signed-in session: its signature routes it to the staff lane (the session store authorises)


@dataclass(frozen=True, slots=True)
class Claims:
    kid: str
    scope: Scope
    space_id: str
    subject: str  # "a-<account id>" or "d-<device id>"
    expires: int
    synthetic: bool = False  # bots and load generators: counted apart


ACCOUNT = "a-"  # a subject (and listener key) naming an account: "a-<account id>"
DEVICE = "d-"  # ... or an anonymous device: "d-<device id>"


def account_subject(account_id: str) -> str:
    return ACCOUNT + account_id


def device_subject(device_id: str) -> str:
    return DEVICE + device_id


def subject_ids(subject: str) -> tuple[str | None, str | None]:
    """(account id, None) of an account's subject or listener key; (None, device id) of anyone else's."""
    if subject.startswith(ACCOUNT):
        return subject.removeprefix(ACCOUNT), None
    return None, subject.partition("-")[2]


SESSION_SPACE = "session"  # the space field of a session token, which is bound to no space


def sign_session(nonce: str, expires: int, kid: str, key: bytes) -> str:
    """A session token: a random `nonce` signed like every other token, so that the edge and the
    shedding middleware can tell a session we issued from a forged one with no lookup. The signature
    only wins a lane; who the session belongs to, and whether it is still valid, is the session
    store's answer (by the token's hash)."""
    return sign(Claims(kid, Scope.SESSION, SESSION_SPACE, nonce, expires), key)


def is_session(token: str) -> bool:
    """Whether `token` has a session token's shape (unchecked): sessions and listener tokens both start
    with the version, and the endpoints that take either tell them apart by this."""
    parts = token.split(".")
    return len(parts) == 8 and parts[0] == VERSION and parts[2] == Scope.SESSION.value


def peek_space(token: str) -> str:
    """The space a token names, read without checking it ("" when it has not the token's shape): which
    space to `verify` it against when the request does not say."""
    parts = token.split(".")
    return parts[3] if len(parts) == 8 else ""


def hmac_hex(key: bytes, message: bytes) -> str:
    return _stdlib_hmac.digest(key, message, "sha256").hex()


def sign(claims: Claims, key: bytes) -> str:
    for part in (claims.kid, claims.space_id, claims.subject):
        if not FIELD.match(part):
            raise ValueError(f"token field {part!r} is not URL and VCL safe")
    flags = "b" if claims.synthetic else "0"
    body = f"{VERSION}.{claims.kid}.{claims.scope.value}.{claims.space_id}.{claims.subject}.{claims.expires}.{flags}"
    return f"{body}.{hmac_hex(key, body.encode())}"


def verify(token: str, keys: dict[str, bytes], now: float, scope: Scope, space_id: str) -> Claims:
    """Check signature, expiry, scope and space; raise Unauthenticated or Forbidden with a clear code."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 512 else []
    if len(parts) != 8 or parts[0] != VERSION:
        raise Unauthenticated("token_malformed", "the token is missing or malformed")
    _, kid, scope_s, space, subject, exp_s, flags, sig = parts
    key = keys.get(kid)
    if key is None:
        raise Unauthenticated("token_unknown_key", "the token was signed with a key that is not valid")
    body = token[: token.rfind(".")]
    if not _stdlib_hmac.compare_digest(hmac_hex(key, body.encode()), sig):
        raise Unauthenticated("token_bad_signature", "the token signature does not match")
    if not exp_s.isdigit() or int(exp_s) <= now:
        raise Unauthenticated("token_expired", "the token has expired")
    if scope_s != scope.value:
        raise Forbidden("token_wrong_scope", f"this token does not allow {scope.name.lower()}")
    if space != space_id:
        raise Forbidden("token_wrong_space", "this token is for another space")
    return Claims(kid, Scope(scope_s), space, subject, int(exp_s), flags == "b")
