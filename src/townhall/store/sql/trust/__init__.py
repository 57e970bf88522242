"""The trust and safety area's SQL repositories, one per aggregate, each implementing a port that the
services declare (services/trust/ports.py) and returning its records; `units.py` writes several of
them in one transaction. `stores(engine)` builds them all for the composition root.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.services.trust.ports import TrustStores
from townhall.store.sql.trust.appeals import AppealRepo, HistoryRepo
from townhall.store.sql.trust.audit import AuditRepo
from townhall.store.sql.trust.decisions import DecisionRepo, StatementRepo
from townhall.store.sql.trust.disputes import DisputeRepo, ReferralRepo
from townhall.store.sql.trust.inbox import InboxRepo
from townhall.store.sql.trust.misuse import MisuseRepo
from townhall.store.sql.trust.notices import NoticeRepo
from townhall.store.sql.trust.orders import OrderRepo
from townhall.store.sql.trust.restrictions import RestrictionRepo
from townhall.store.sql.trust.units import SqlUnits


def stores(engine: AsyncEngine) -> TrustStores:
    return TrustStores(
        notices=NoticeRepo(engine),
        decisions=DecisionRepo(engine),
        restrictions=RestrictionRepo(engine),
        statements=StatementRepo(engine),
        inbox=InboxRepo(engine),
        history=HistoryRepo(engine),
        appeals=AppealRepo(engine),
        orders=OrderRepo(engine),
        disputes=DisputeRepo(engine),
        referrals=ReferralRepo(engine),
        misuse=MisuseRepo(engine),
        audit=AuditRepo(engine),
        units=SqlUnits(engine),
    )
