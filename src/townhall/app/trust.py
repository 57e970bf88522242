"""Builds the trust and safety area (EU DSA): moderation, appeals, orders, disputes, staff, withholding,
and the submission of statements to the DSA Transparency Database when configured. Called by the root."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.api.trust.common import Trust
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.moderation import ModerationService
from townhall.services.spaces import SpaceService
from townhall.services.trust.appeals import AppealService
from townhall.services.trust.disputes import DisputeService
from townhall.services.trust.misuse import MisuseService
from townhall.services.trust.orders import OrderService
from townhall.services.trust.staff import StaffService
from townhall.services.trust.tdb import TdbPublisher
from townhall.services.trust.withholding import Withholdings
from townhall.settings import Settings
from townhall.store.sql.repos_trust import TrustRepo
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
    repo = TrustRepo(db)
    held = Withholdings(repo, clock, s.withholding_refresh_s)
    moderation = ModerationService(ctx, repo, accounts, spaces, held, signing_key)
    lookup = geo.CountryLookup(s.country_header, s.geo_trusted_proxies, s.geoip_database)
    appeals, orders, disputes = AppealService(moderation), OrderService(moderation), DisputeService(moderation)
    staff = StaffService(ctx, repo, accounts)
    trust = Trust(repo, held, moderation, appeals, orders, lookup, disputes, staff, MisuseService(moderation))
    if s.dsa_tdb_url:
        trust.tdb = TdbPublisher(repo, TdbClient(s.dsa_tdb_url, s.dsa_tdb_token), clock)
    return trust
