"""Builds the trust and safety area (EU DSA): notices, decisions and their effects, appeals, orders,
disputes, staff, misuse, withholding, and the submission of statements to the DSA Transparency
Database when configured. Called by the root; the only place that picks the area's SQL repositories."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.api.trust.common import Trust
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.spaces import SpaceService
from townhall.services.trust.appeals import AppealService
from townhall.services.trust.decisions import ModerationService
from townhall.services.trust.disputes import DisputeService
from townhall.services.trust.effects import Effects
from townhall.services.trust.misuse import MisuseService
from townhall.services.trust.notices import NoticeService
from townhall.services.trust.orders import OrderService
from townhall.services.trust.ports import TrustStores
from townhall.services.trust.staff import StaffService
from townhall.services.trust.targets import Targets
from townhall.services.trust.tdb import TdbPublisher
from townhall.services.trust.withholding import Withholdings
from townhall.settings import Settings
from townhall.store.sql import db as sqldb
from townhall.store.sql import trust as sql_trust
from townhall.trust import geo
from townhall.trust.tdb import TdbClient


def build_trust(
    s: Settings,
    ctx: Context,
    db: AsyncEngine,
    accounts: AccountService,
    spaces: SpaceService,
    signing_key: bytes,
    clock: Callable[[], float],
) -> Trust:
    stores = sql_trust.stores(db)
    held = Withholdings(stores.restrictions, clock, s.withholding_refresh_s)
    targets = Targets(ctx, accounts, spaces)
    effects = Effects(ctx, stores.decisions, stores.restrictions, accounts, spaces, held)
    moderation = ModerationService(ctx, stores, accounts, spaces, targets, effects)
    lookup = geo.CountryLookup(s.country_header, s.geo_trusted_proxies, s.geoip_database)
    trust = Trust(
        stores=stores,
        withholdings=held,
        notices=NoticeService(ctx, stores, targets, spaces, signing_key),
        moderation=moderation,
        effects=effects,
        appeals=AppealService(moderation),
        orders=OrderService(moderation),
        geo=lookup,
        disputes=DisputeService(moderation),
        staff=StaffService(ctx, stores.units, accounts, spaces),
        misuse=MisuseService(moderation),
    )
    if s.dsa_tdb_url:
        trust.tdb = TdbPublisher(stores.statements, TdbClient(s.dsa_tdb_url, s.dsa_tdb_token), clock)
    return trust


@contextlib.asynccontextmanager
async def opened_stores(database_url: str) -> AsyncIterator[TrustStores]:
    """The area's ports over a migrated database, for the command-line verbs (closed on exit)."""
    await sqldb.migrate(database_url)
    engine = sqldb.open_engine(database_url)
    try:
        yield sql_trust.stores(engine)
    finally:
        await engine.dispose()
