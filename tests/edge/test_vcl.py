"""The rendered VCL restates decision 0001 exactly, and refuses keys that VCL cannot carry."""

from __future__ import annotations

import re

import pytest
from edge_support import CREDENTIAL, KEYS, listener_token

from townhall.domain.tokens import Scope
from townhall.edge import tokens
from townhall.edge.varnish import render_vcl
from townhall.services.keys import parse_keys
from townhall.settings import Settings


def test_every_token_the_domain_signs_matches_the_edge_regex_and_nothing_else_does() -> None:
    edge_regex = re.compile(tokens.TOKEN_REGEX)
    assert edge_regex.match(listener_token())
    assert edge_regex.match(listener_token(scope=Scope.SPEAK))  # scope is checked after the signature
    token = listener_token()
    for broken in (token + "0", token.replace("v1.", "v2.", 1), token.replace(".", "/", 1), token[:-64] + "Z" * 64):
        assert not edge_regex.match(broken)


def test_keys_from_settings_render_one_branch_each_and_binary_keys_are_refused() -> None:
    keys = parse_keys("new-key:" + "ab" * 32 + ",old-key:" + "cd" * 32).keys
    vcl = render_vcl(Settings(), keys, CREDENTIAL, "http://127.0.0.1:9")
    assert '"^v1\\.new-key\\."' in vcl and '"^v1\\.old-key\\."' in vcl
    assert f'digest.hmac_sha256("{"ab" * 32}"' in vcl
    with pytest.raises(ValueError, match="raw-key"):
        render_vcl(Settings(), {"raw-key": bytes(range(32))}, CREDENTIAL, "http://127.0.0.1:9")


def test_a_shield_renders_without_keys_or_limits() -> None:
    vcl = render_vcl(Settings(edge_role="shield"), KEYS, CREDENTIAL, "http://127.0.0.1:9")
    assert "hmac_sha256(" not in vcl and "vsthrottle.is_denied" not in vcl
