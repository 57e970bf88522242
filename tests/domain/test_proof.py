"""The "under attack" proof of work (domain/proof.py): a solution counts only for its own space, before
its expiry, at the difficulty asked, under the server's signature; checking costs one HMAC and one hash."""

from __future__ import annotations

import time

from townhall.domain import proof

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_764_170_000.0


def test_a_solution_is_checked_for_space_expiry_difficulty_and_signature() -> None:
    c = proof.issue(KEY, "space1", NOW, 120, 8, "abc123")
    nonce = proof.solve(c.text, 8)
    assert proof.check(c.text, nonce, KEY, "space1", NOW + 1, 8) == c
    assert proof.check(c.text, nonce, KEY, "space2", NOW + 1, 8) is None  # bound to the space
    assert proof.check(c.text, nonce, KEY, "space1", NOW + 121, 8) is None  # expired
    assert proof.check(c.text, nonce, KEY, "space1", NOW + 1, 12) is None  # easier than the setting
    assert proof.check(c.text, nonce, b"another key" * 3, "space1", NOW + 1, 8) is None  # not ours
    forged = c.text.replace(".8.", ".0.")  # a lower difficulty written in: the signature no longer matches
    assert proof.check(forged, "0", KEY, "space1", NOW + 1, 0) is None
    wrong = next(str(n) for n in range(10_000) if proof.zero_bits(proof.digest(c.text, str(n))) < 8)
    assert proof.check(c.text, wrong, KEY, "space1", NOW + 1, 8) is None
    for junk in ("", "x" * 400, "c1.a.b.c.d.e", "c1..."):
        assert proof.check(junk, nonce, KEY, "space1", NOW, 0) is None
    assert proof.check(c.text, "bad nonce!", KEY, "space1", NOW + 1, 8) is None


def test_checking_is_cheap_and_solving_is_not() -> None:
    c = proof.issue(KEY, "space1", NOW, 120, 16, "abc123")
    nonce = proof.solve(c.text, 16)
    started = time.perf_counter()
    for _ in range(1000):
        assert proof.check(c.text, nonce, KEY, "space1", NOW, 16) is not None
    assert (time.perf_counter() - started) / 1000 < 0.001  # well under a millisecond each
    assert proof.zero_bits(bytes([0, 0, 0x10])) == 19
