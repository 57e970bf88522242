"""Withholding by country: a cached view of which spaces, replays and clips are withheld where, the
admission gate that answers 451 at join, and the message a listener reads.
Never answers from a view older than `withholding_refresh_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from townhall.domain.errors import LegallyWithheld
from townhall.domain.moderation import ActionKind
from townhall.domain.spaces import Space
from townhall.services.admission import Listener
from townhall.services.trust.ports import RestrictionStore

LEGAL_DEMAND = "legal_demand"
LOCAL_LAW = "local_law"
WORDING = {
    LEGAL_DEMAND: "This space has been withheld in {country} in response to a legal demand.",
    LOCAL_LAW: "This space has been withheld in {country} based on local law.",
}


class Withholdings:
    def __init__(self, restrictions: RestrictionStore, clock: Callable[[], float], refresh_s: float) -> None:
        self.restrictions = restrictions
        self.clock = clock
        self.refresh_s = refresh_s
        self._view: dict[str, dict[str, str]] = {}  # target id -> country -> reason
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._fresh_until = 0.0

    async def _refresh(self) -> None:
        async with self._lock:
            now = self.clock()
            if self._fresh_until > now:
                return
            view: dict[str, dict[str, str]] = {}
            for restriction in await self.restrictions.active(ActionKind.WITHHOLD, now):
                reason = restriction.label or LOCAL_LAW
                for country in restriction.countries:
                    view.setdefault(restriction.target_id, {})[country] = reason
            self._view = view
            self._fresh_until = now + self.refresh_s

    async def countries(self, target_id: str) -> dict[str, str]:
        """Countries where the target is withheld now, each with its reason."""
        if self._fresh_until <= self.clock():
            await self._refresh()
        return self._view.get(target_id, {})

    async def check(self, target_id: str, country: str | None) -> None:
        """Raise 451 when the target is withheld in the requester's country."""
        if not country:
            return
        reason = (await self.countries(target_id)).get(country.upper())
        if reason is not None:
            raise LegallyWithheld(
                "withheld_in_country",
                WORDING[reason].format(country=country.upper()),
                country=country.upper(),
                scope="space",
                reason=reason,
            )

    async def gate(self, space: Space, listener: Listener, country: str | None) -> None:
        """The admission gate (services/admission.py `space_gates`)."""
        await self.check(space.id, country)
