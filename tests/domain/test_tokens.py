"""Listener and speaker tokens: signed, expiring, bound to one space and one scope, rotatable."""

from __future__ import annotations

import pytest

from townhall.domain.errors import Forbidden, Unauthenticated
from townhall.domain.tokens import (
    Claims,
    Scope,
    account_subject,
    device_subject,
    peek_space,
    sign,
    subject_ids,
    verify,
)

KEYS = {"k1": b"a" * 32, "k0": b"b" * 32}


def token(scope: Scope = Scope.LISTEN, space: str = "space1", exp: int = 1000, kid: str = "k1") -> str:
    return sign(Claims(kid, scope, space, "d-device0001", exp), KEYS[kid])


def test_valid_token_gives_its_claims() -> None:
    claims = verify(token(), KEYS, 999.0, Scope.LISTEN, "space1")
    assert claims.subject == "d-device0001" and claims.expires == 1000 and not claims.synthetic


def test_either_key_of_a_rotation_verifies() -> None:
    assert verify(token(kid="k0"), KEYS, 0, Scope.LISTEN, "space1").kid == "k0"


@pytest.mark.parametrize(
    ("tok", "code"),
    [
        ("", "token_malformed"),
        ("v1.k1.l.space1", "token_malformed"),
        (token().replace("v1.", "v2.", 1), "token_malformed"),
        (token(kid="k1").replace(".k1.", ".k9.", 1), "token_unknown_key"),
        (token()[:-1] + ("0" if token()[-1] != "0" else "1"), "token_bad_signature"),
        (token().replace("space1", "space2"), "token_bad_signature"),
        (token(exp=500), "token_expired"),
        ("x" * 600, "token_malformed"),
    ],
)
def test_bad_tokens_are_unauthenticated(tok: str, code: str) -> None:
    with pytest.raises(Unauthenticated) as err:
        verify(tok, KEYS, 600.0, Scope.LISTEN, "space1")
    assert err.value.code == code


def test_token_for_another_space_is_forbidden() -> None:
    with pytest.raises(Forbidden) as err:
        verify(token(space="other"), KEYS, 0, Scope.LISTEN, "space1")
    assert err.value.code == "token_wrong_space"


def test_listener_token_cannot_publish() -> None:
    with pytest.raises(Forbidden) as err:
        verify(token(Scope.LISTEN), KEYS, 0, Scope.SPEAK, "space1")
    assert err.value.code == "token_wrong_scope"


def test_fields_must_be_url_and_vcl_safe() -> None:
    with pytest.raises(ValueError):
        sign(Claims("k1", Scope.LISTEN, "bad.space", "d-x", 1), KEYS["k1"])


def test_subjects_name_an_account_or_a_device() -> None:
    assert account_subject("acc123") == "a-acc123" and device_subject("device0001") == "d-device0001"
    assert subject_ids(account_subject("acc-1_2")) == ("acc-1_2", None)
    assert subject_ids(device_subject("dev-0001")) == (None, "dev-0001")


def test_peek_space_reads_the_space_a_token_names_without_trusting_it() -> None:
    assert peek_space(token(space="space9")) == "space9"
    assert peek_space("v1.k1.l.space9") == "" and peek_space("not a token") == ""
    forged = token(space="space9")
    forged = forged[:-1] + ("1" if forged.endswith("0") else "0")
    with pytest.raises(Unauthenticated):  # peeking proves nothing: verify still checks the signature
        verify(forged, KEYS, 0, Scope.LISTEN, peek_space(forged))
