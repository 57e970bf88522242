"""Platform roles given and taken by admins through the API (moderator, trusted flagger, admin), each
change appended to the audit log. Never lets an admin take away their own admin role.
"""

from __future__ import annotations

from townhall.domain.accounts import Account, PlatformRole
from townhall.domain.errors import Conflict, Forbidden
from townhall.services.accounts import AccountService
from townhall.services.context import Context
from townhall.services.trust.ports import Units


def require(account: Account, role: PlatformRole) -> None:
    """Only staff with `role` may go on."""
    if not account.has_role(role):
        raise Forbidden("not_a_moderator" if role is PlatformRole.MODERATOR else "not_an_admin", f"only a {role} may")


class StaffService:
    def __init__(self, ctx: Context, units: Units, accounts: AccountService) -> None:
        self.ctx = ctx
        self.units = units
        self.accounts = accounts

    async def set_role(self, admin: Account, account_id: str, role: PlatformRole, granted: bool) -> Account:
        require(admin, PlatformRole.ADMIN)
        if admin.id == account_id and role is PlatformRole.ADMIN and not granted:
            raise Conflict("last_admin_guard", "an admin cannot take away their own admin role")
        account = await self.accounts.get(account_id)
        if granted:
            account = await self.accounts.grant(account.id, role.value)
        else:
            await self.accounts.accounts.set_roles(
                account.id, frozenset(r.value for r in account.platform_roles - {role})
            )
            account = await self.accounts.get(account.id)
        now = self.ctx.clock()
        async with self.units.begin() as w:
            action = "role.granted" if granted else "role.revoked"
            await w.audit(now, ("admin", admin.id), action, ("account", account.id), {"role": role.value})
        return account

    async def grant_by_operator(self, operator: str, handle: str, role: PlatformRole) -> Account:
        """`townhall grant` on the server: no admin account acts, so the operator (the OS user who ran the
        command) is the audited actor; the entry is the API's `role.granted`."""
        account = await self.accounts.by_handle(handle)
        account = await self.accounts.grant(account.id, role.value)
        async with self.units.begin() as w:
            await w.audit(
                self.ctx.clock(), ("operator", operator), "role.granted", ("account", account.id), {"role": role.value}
            )
        return account
