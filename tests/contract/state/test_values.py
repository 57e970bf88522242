"""Small values (`Values`): stored, replaced, and expired in the caller's time."""

from __future__ import annotations

import pytest

from tests.contract.state.conftest import T0
from townhall.store.state.base import Values

pytestmark = pytest.mark.timeout(60)


async def test_values_are_stored_replaced_and_missing_is_none(state: Values) -> None:
    assert await state.get("speaking:x", T0) is None
    await state.put("speaking:x", b'["a"]', T0)
    assert await state.get("speaking:x", T0) == b'["a"]'
    await state.put("speaking:x", b"[]", T0, ttl_s=30)
    assert await state.get("speaking:x", T0 + 1) == b"[]"


async def test_a_value_expires_its_ttl_after_the_put_in_the_callers_time(state: Values) -> None:
    await state.put("short", b"1", T0, ttl_s=5)
    await state.put("long", b"2", T0, ttl_s=30)
    assert await state.get("short", T0 + 4.999) == b"1"
    assert await state.get("short", T0 + 5) is None
    assert await state.get("long", T0 + 5) == b"2"


async def test_a_value_without_a_ttl_never_expires(state: Values) -> None:
    await state.put("forever", b"x", T0)
    assert await state.get("forever", T0 + 10 * 365 * 86400) == b"x"


async def test_putting_again_replaces_the_ttl(state: Values) -> None:
    await state.put("k", b"1", T0, ttl_s=5)
    await state.put("k", b"2", T0 + 1)  # no ttl now: kept
    assert await state.get("k", T0 + 100) == b"2"
    await state.put("k", b"3", T0 + 100, ttl_s=1)
    assert await state.get("k", T0 + 101) is None


async def test_an_empty_value_is_a_value(state: Values) -> None:
    await state.put("empty", b"", T0)
    assert await state.get("empty", T0) == b""


async def test_many_values_are_read_in_order_with_missing_and_expired_as_none(state: Values) -> None:
    assert await state.get_many([], T0) == []
    await state.put("revoked:a:x", b"1", T0, ttl_s=5)
    await state.put("revoked:*:x", b"0", T0)
    await state.put("revoked:b:x", b"1", T0, ttl_s=1)  # another slot on a cluster
    got = await state.get_many(["revoked:a:x", "nothing", "revoked:*:x", "revoked:b:x"], T0 + 2)
    assert got == [b"1", None, b"0", None]
