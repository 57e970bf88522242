"""Repositories of the foundation's aggregates: accounts, sessions, spaces, members.

Each method is one short transaction; rows become domain dataclasses and back. No rules here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.domain.accounts import Account, AccountStatus, parse_roles
from townhall.domain.errors import Conflict
from townhall.domain.roles import Role
from townhall.domain.spaces import Member, Space, SpaceState
from townhall.store.sql.tables import accounts, members, sessions, spaces


def _account(row: sa.Row) -> Account:  # type: ignore[type-arg]
    return Account(
        id=row.id,
        handle=row.handle,
        status=AccountStatus(row.status),
        created_at=row.created_at,
        suspended_until=row.suspended_until,
        platform_roles=parse_roles(row.platform_roles),
    )


def _space(row: sa.Row) -> Space:  # type: ignore[type-arg]
    return Space(
        id=row.id,
        host_id=row.host_id,
        title=row.title,
        state=SpaceState(row.state),
        created_at=row.created_at,
        scheduled_start=row.scheduled_start,
        listener_cap=row.listener_cap,
        admissions_per_minute=row.admissions_per_minute,
        under_attack=bool(row.under_attack),
        recording=bool(row.recording),
        replay_public=bool(row.replay_public),
        started_at=row.started_at,
        ended_at=row.ended_at,
        ended_reason=row.ended_reason,
    )


class AccountRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, account_id: str, handle: str, password_hash: str, now: float) -> Account:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    accounts.insert().values(
                        id=account_id,
                        handle=handle,
                        password_hash=password_hash,
                        status="active",
                        platform_roles="",
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict("handle_taken", "that handle is taken") from exc
        return Account(account_id, handle, AccountStatus.ACTIVE, now)

    async def by_handle(self, handle: str) -> tuple[Account, str] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(accounts.select().where(accounts.c.handle == handle))).first()
        return None if row is None else (_account(row), row.password_hash)

    async def get(self, account_id: str) -> Account | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(accounts.select().where(accounts.c.id == account_id))).first()
        return None if row is None else _account(row)

    async def handles(self, account_ids: set[str]) -> dict[str, str]:
        """Each known account's handle, in one query."""
        if not account_ids:
            return {}
        query = sa.select(accounts.c.id, accounts.c.handle).where(accounts.c.id.in_(sorted(account_ids)))
        async with self.engine.connect() as conn:
            return {r.id: r.handle for r in (await conn.execute(query)).all()}

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(accounts))).scalar_one())

    async def set_status(self, account_id: str, status: AccountStatus, until: float | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                accounts.update().where(accounts.c.id == account_id).values(status=status.value, suspended_until=until)
            )

    async def set_roles(self, account_id: str, roles: frozenset[str]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                accounts.update().where(accounts.c.id == account_id).values(platform_roles=",".join(sorted(roles)))
            )


class SessionRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, token_hash: str, account_id: str, now: float, expires_at: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sessions.insert().values(
                    token_hash=token_hash, account_id=account_id, created_at=now, expires_at=expires_at
                )
            )

    async def account_for(self, token_hash: str, now: float) -> Account | None:
        query = (
            sa.select(accounts)
            .join(sessions, sessions.c.account_id == accounts.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _account(row)

    async def delete(self, token_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))


class SpaceRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, space: Space) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                spaces.insert().values(
                    id=space.id,
                    host_id=space.host_id,
                    title=space.title,
                    state=space.state.value,
                    created_at=space.created_at,
                    scheduled_start=space.scheduled_start,
                    listener_cap=space.listener_cap,
                    admissions_per_minute=space.admissions_per_minute,
                    under_attack=space.under_attack,
                    recording=space.recording,
                    replay_public=space.replay_public,
                )
            )
            await conn.execute(
                members.insert().values(
                    space_id=space.id, account_id=space.host_id, role=Role.HOST.value, updated_at=space.created_at
                )
            )

    async def get(self, space_id: str) -> Space | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(spaces.select().where(spaces.c.id == space_id))).first()
        return None if row is None else _space(row)

    async def save_state(self, space: Space) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                spaces.update()
                .where(spaces.c.id == space.id)
                .values(
                    state=space.state.value,
                    started_at=space.started_at,
                    ended_at=space.ended_at,
                    ended_reason=space.ended_reason,
                    listener_cap=space.listener_cap,
                    admissions_per_minute=space.admissions_per_minute,
                    under_attack=space.under_attack,
                )
            )

    async def find(self, states: list[SpaceState], limit: int, host_id: str | None = None) -> list[Space]:
        query = spaces.select().where(spaces.c.state.in_([s.value for s in states]))
        if host_id is not None:
            query = query.where(spaces.c.host_id == host_id)
        query = query.order_by(spaces.c.created_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_space(r) for r in (await conn.execute(query)).all()]

    async def hosted_since(self, host_id: str, since: float) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(spaces)
            .where(spaces.c.host_id == host_id, spaces.c.created_at >= since)
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


def _member(r: sa.Row) -> Member:  # type: ignore[type-arg]
    return Member(r.space_id, r.account_id, r.handle, Role(r.role), bool(r.muted), bool(r.blocked), bool(r.invited))


_MEMBERS = sa.select(members, accounts.c.handle).join(accounts, accounts.c.id == members.c.account_id)


class MemberRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def of_space(self, space_id: str) -> list[Member]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_MEMBERS.where(members.c.space_id == space_id))).all()
        return [_member(r) for r in rows]

    async def get(self, space_id: str, account_id: str) -> Member | None:
        query = _MEMBERS.where(members.c.space_id == space_id, members.c.account_id == account_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _member(row)

    async def upsert(self, space_id: str, account_id: str, now: float, **values: object) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                members.update()
                .where(members.c.space_id == space_id, members.c.account_id == account_id)
                .values(updated_at=now, **values)
            )
            if result.rowcount == 0:
                row: dict[str, object] = {
                    "role": Role.LISTENER.value,
                    "muted": False,
                    "blocked": False,
                    "invited": False,
                }
                row.update(values)
                await conn.execute(
                    members.insert().values(space_id=space_id, account_id=account_id, updated_at=now, **row)
                )

    async def spaces_of(self, account_id: str, roles: list[Role]) -> list[str]:
        query = sa.select(members.c.space_id).where(
            members.c.account_id == account_id, members.c.role.in_([r.value for r in roles])
        )
        async with self.engine.connect() as conn:
            return [r.space_id for r in (await conn.execute(query)).all()]
