"""The hot-state contract fixtures: `state` is a fresh store of each kind in STATE_KINDS (Redis under its
own key prefix, deleted afterwards), so every port's suite runs over every implementation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.state import STATE_KINDS, open_store
from townhall.store.state.base import StateStore

T0 = 1_764_170_000.123456  # a realistic wall-clock time with a fraction, to catch rounding


@pytest.fixture(params=STATE_KINDS)
async def state(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    async with open_store(request.param) as store:
        yield store


def space() -> str:
    return f"s{uuid.uuid4().hex[:10]}"
