"""The relational contract: the foundation's repositories behave the same on SQLite and PostgreSQL,
after the real Alembic migrations (every area's branch).

One migrated database per backend serves the module (migrating takes seconds); each test makes its
own accounts and spaces, so tests do not see each other's rows except in global listings.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.domain.accounts import AccountStatus, PlatformRole
from townhall.domain.errors import Conflict
from townhall.domain.roles import Role
from townhall.domain.spaces import Space, SpaceState
from townhall.store.sql.repos import AccountRepo, MemberRepo, SessionRepo, SpaceRepo

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]
T0 = 1_764_170_000.25


def new_id() -> str:
    return uuid.uuid4().hex


def handle(name: str) -> str:
    """A handle unique to this test run (the database is shared by the module's tests)."""
    return f"{name}{uuid.uuid4().hex[:8]}"


async def account(engine: AsyncEngine, name: str) -> str:
    account_id = new_id()
    await AccountRepo(engine).create(account_id, handle(name), "argon2-hash", T0)
    return account_id


async def space(
    engine: AsyncEngine, host_id: str, created_at: float = T0, cap: int | None = None, starts: float | None = None
) -> Space:
    made = Space(new_id(), host_id, "A space", SpaceState.SCHEDULED, created_at, starts, cap)
    await SpaceRepo(engine).create(made)
    return made


# --- accounts ------------------------------------------------------------------------------------
async def test_an_account_is_found_by_handle_and_id(engine: AsyncEngine) -> None:
    repo = AccountRepo(engine)
    before = await repo.count()
    account_id, ada = new_id(), handle("ada")
    made = await repo.create(account_id, ada, "hash-1", T0)
    assert made.handle == ada and made.status is AccountStatus.ACTIVE
    found = await repo.by_handle(ada)
    assert found is not None
    assert found[0] == made and found[1] == "hash-1"
    assert await repo.get(account_id) == made
    assert await repo.get("nobody") is None
    assert await repo.by_handle("nobody") is None
    assert await repo.count() == before + 1


async def test_a_taken_handle_is_a_conflict(engine: AsyncEngine) -> None:
    repo = AccountRepo(engine)
    grace = handle("grace")
    await repo.create(new_id(), grace, "h", T0)
    with pytest.raises(Conflict) as caught:
        await repo.create(new_id(), grace, "h2", T0)
    assert caught.value.code == "handle_taken"


async def test_account_status_and_platform_roles_are_saved(engine: AsyncEngine) -> None:
    repo = AccountRepo(engine)
    account_id = await account(engine, "mod")
    await repo.set_status(account_id, AccountStatus.SUSPENDED, T0 + 3600)
    await repo.set_roles(account_id, frozenset({"moderator", "admin"}))
    found = await repo.get(account_id)
    assert found is not None
    assert found.status is AccountStatus.SUSPENDED and found.suspended_until == T0 + 3600
    assert found.platform_roles == {PlatformRole.MODERATOR, PlatformRole.ADMIN}
    await repo.set_status(account_id, AccountStatus.ACTIVE, None)
    again = await repo.get(account_id)
    assert again is not None and again.status is AccountStatus.ACTIVE and again.suspended_until is None


# --- sessions ------------------------------------------------------------------------------------
async def test_a_session_authenticates_until_it_expires_or_is_deleted(engine: AsyncEngine) -> None:
    sessions = SessionRepo(engine)
    account_id = await account(engine, "lin")
    kept, dropped = new_id(), new_id()
    await sessions.create(kept, account_id, T0, T0 + 60)
    found = await sessions.account_for(kept, T0 + 59.9)
    assert found is not None and found.id == account_id
    assert await sessions.account_for(kept, T0 + 60) is None
    assert await sessions.account_for("unknown", T0) is None
    await sessions.create(dropped, account_id, T0, T0 + 60)
    await sessions.delete(dropped)
    assert await sessions.account_for(dropped, T0) is None


# --- spaces --------------------------------------------------------------------------------------
async def test_a_created_space_is_read_back_with_its_host_as_member(engine: AsyncEngine) -> None:
    host = await account(engine, "host1")
    made = await space(engine, host, cap=250, starts=T0 + 600)
    assert await SpaceRepo(engine).get(made.id) == made
    assert await SpaceRepo(engine).get("missing") is None
    host_member = await MemberRepo(engine).get(made.id, host)
    assert host_member is not None and host_member.role is Role.HOST and host_member.handle.startswith("host1")


async def test_saving_a_space_state_persists_the_lifecycle_and_cap(engine: AsyncEngine) -> None:
    repo = SpaceRepo(engine)
    made = await space(engine, await account(engine, "host2"))
    live = replace(made, state=SpaceState.LIVE, started_at=T0 + 1, listener_cap=10)
    await repo.save_state(live)
    assert await repo.get(made.id) == live
    ended = replace(live, state=SpaceState.ENDED, ended_at=T0 + 9, ended_reason="host")
    await repo.save_state(ended)
    assert await repo.get(made.id) == ended


async def test_spaces_are_listed_by_state_newest_first_with_a_limit(engine: AsyncEngine) -> None:
    repo = SpaceRepo(engine)
    ann, bob = await account(engine, "ann"), await account(engine, "bob")
    a1 = await space(engine, ann, created_at=T0 + 1)
    a2 = await space(engine, ann, created_at=T0 + 2)
    b1 = await space(engine, bob, created_at=T0 + 3)
    await repo.save_state(replace(a2, state=SpaceState.LIVE, started_at=T0 + 4))
    ours = {a1.id, a2.id, b1.id}
    scheduled = [s.id for s in await repo.find([SpaceState.SCHEDULED], 100) if s.id in ours]
    assert scheduled == [b1.id, a1.id]
    both = [s.id for s in await repo.find([SpaceState.SCHEDULED, SpaceState.LIVE], 100) if s.id in ours]
    assert both == [b1.id, a2.id, a1.id]
    assert len(await repo.find([SpaceState.SCHEDULED, SpaceState.LIVE], 2)) == 2
    assert [s.id for s in await repo.find([SpaceState.SCHEDULED, SpaceState.LIVE], 10, host_id=ann)] == [
        a2.id,
        a1.id,
    ]
    assert not ours & {s.id for s in await repo.find([SpaceState.ENDED], 100)}
    assert await repo.hosted_since(ann, T0 + 1.5) == 1
    assert await repo.hosted_since(ann, T0) == 2


# --- members -------------------------------------------------------------------------------------
async def test_upserting_a_member_inserts_a_listener_then_updates_in_place(engine: AsyncEngine) -> None:
    members = MemberRepo(engine)
    host = await account(engine, "host3x")
    guest = await account(engine, "guest3")
    s = await space(engine, host)
    await members.upsert(s.id, guest, T0 + 1)
    joined = await members.get(s.id, guest)
    assert joined is not None
    assert (joined.role, joined.muted, joined.blocked, joined.invited) == (Role.LISTENER, False, False, False)
    await members.upsert(s.id, guest, T0 + 2, invited=True)
    await members.upsert(s.id, guest, T0 + 3, role=Role.SPEAKER.value, invited=False, muted=True)
    now = await members.get(s.id, guest)
    assert now is not None
    assert (now.role, now.muted, now.blocked, now.invited) == (Role.SPEAKER, True, False, False)
    roster = {m.account_id: (m.handle[:6], m.role) for m in await members.of_space(s.id)}
    assert roster == {guest: ("guest3", Role.SPEAKER), host: ("host3x", Role.HOST)}
    assert await members.get(s.id, "stranger") is None


async def test_the_spaces_of_an_account_are_found_by_role(engine: AsyncEngine) -> None:
    members = MemberRepo(engine)
    someone = await account(engine, "someone")
    other = await account(engine, "other")
    hosted = await space(engine, someone)
    spoken = await space(engine, other)
    listened = await space(engine, other)
    await members.upsert(spoken.id, someone, T0, role=Role.SPEAKER.value)
    await members.upsert(listened.id, someone, T0)
    voices = [Role.HOST, Role.COHOST, Role.SPEAKER]
    assert sorted(await members.spaces_of(someone, voices)) == sorted([hosted.id, spoken.id])
    assert await members.spaces_of(someone, [Role.LISTENER]) == [listened.id]
    assert await members.spaces_of(other, [Role.SPEAKER]) == []
