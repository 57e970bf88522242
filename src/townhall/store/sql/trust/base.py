"""What every trust repository shares: it runs over an engine (each call its own short transaction) or
over one connection (inside a unit of work, where it sees the unit's own writes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Row = sa.RowMapping


class Sql:
    def __init__(self, bind: AsyncEngine | AsyncConnection) -> None:
        self.bind = bind

    async def rows(self, query: sa.Select[Any]) -> Sequence[Row]:
        found: Sequence[Row]
        if isinstance(self.bind, AsyncConnection):
            found = (await self.bind.execute(query)).mappings().all()
            return found
        async with self.bind.connect() as conn:
            found = (await conn.execute(query)).mappings().all()
        return found

    async def one(self, query: sa.Select[Any]) -> Row | None:
        found = await self.rows(query.limit(1))
        return found[0] if found else None

    async def execute(self, statement: sa.Executable) -> int:
        """Run a write; the number of rows it touched."""
        if isinstance(self.bind, AsyncConnection):
            return (await self.bind.execute(statement)).rowcount
        async with self.bind.begin() as conn:
            return (await conn.execute(statement)).rowcount
