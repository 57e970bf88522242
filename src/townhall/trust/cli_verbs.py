"""The trust and safety verbs of the `townhall` command: `audit verify|export`, `transparency-report`,
`sor export`. Parse, call, print; no logic of their own. Read only: they never change the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from townhall.app import database_url
from townhall.app.trust import opened_stores
from townhall.cli import Verb, verb
from townhall.services.trust.ports import TrustStores
from townhall.settings import Settings


def _verb(name: str, help_text: str, args: Callable[[argparse.ArgumentParser], None]) -> Callable[[Verb], Verb]:
    register: Callable[[Verb], Verb] = verb(name, help_text, args)  # the registry's decorator is untyped
    return register


def _period_args(p: argparse.ArgumentParser) -> None:
    year = datetime.now(UTC).year
    p.add_argument("--from", dest="start", default=f"{year}-01-01", help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", default=f"{year}-12-31", help="last day, YYYY-MM-DD (UTC)")
    p.add_argument("--data-dir")


@asynccontextmanager
async def _stores(args: argparse.Namespace, settings: Settings) -> AsyncIterator[TrustStores]:
    if getattr(args, "data_dir", None):
        settings = settings.model_copy(update={"data_dir": Path(args.data_dir)})
    async with opened_stores(database_url(settings)) as stores:
        yield stores


def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["verify", "export"])
    _period_args(p)


@_verb("audit", "verify the audit log's hash chain end to end, or export entries as NDJSON", _audit_args)
async def audit_verb(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.services.trust.reports import period
    from townhall.trust import audit

    async with _stores(args, settings) as stores:
        if args.action == "verify":
            result = await audit.verify(stores.audit)
            if result.ok:
                print(f"audit log intact: {result.checked} entries verified")
                return 0
            print(f"audit log BROKEN at entry {result.first_bad_seq}: {result.problem}", file=sys.stderr)
            return 1
        start, end = period(args.start, args.end)
        async for entry in audit.export(stores.audit, start, end):
            print(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    _period_args(p)
    p.add_argument("--html", help="also write the readable page with charts to this file")
    p.add_argument("--platform", default="", help="platform name in the report (default: the public URL)")


@_verb("transparency-report", "the period's DSA transparency figures as JSON (and --html page)", _report_args)
async def transparency_verb(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from townhall.services.trust.reports import report
    from townhall.trust import transparency

    platform = args.platform or settings.public_url or f"http://{settings.host}:{settings.port}"
    async with _stores(args, settings) as stores:
        figures = await report(stores, platform, args.start, args.end)
    print(json.dumps(figures, indent=2))
    if args.html:
        await asyncio.to_thread(Path(args.html).write_text, transparency.page(figures), "utf-8")
    return 0


def _sor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["export", "submit"], help="submit: send pending ones to the database now")
    _period_args(p)


@_verb("sor", "export statements of reasons in the DSA Transparency Database format (NDJSON), or submit", _sor_args)
async def sor_verb(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.services.trust.reports import tdb_statements
    from townhall.trust import reasons

    async with _stores(args, settings) as stores:
        if args.action == "submit":
            return await _submit(stores, settings)
        statements = await tdb_statements(stores.statements, args.start, args.end)
    bad = 0
    for statement in statements:
        problems = reasons.problems(statement)
        if problems:
            bad += 1
            print(f"{statement.get('puid')}: {problems[0]}", file=sys.stderr)
            continue
        print(json.dumps(statement, separators=(",", ":")))
    return 1 if bad else 0


async def _submit(stores: TrustStores, settings: Settings) -> int:
    import time
    from collections import Counter

    from townhall.services.trust.tdb import TdbPublisher
    from townhall.trust.tdb import TdbClient

    if not settings.dsa_tdb_url:
        print("TOWNHALL_DSA_TDB_URL is not set", file=sys.stderr)
        return 2
    publisher = TdbPublisher(stores.statements, TdbClient(settings.dsa_tdb_url, settings.dsa_tdb_token), time.time)
    total: Counter[str] = Counter()
    try:
        for _ in range(1000):  # bounded: 100 000 statements per run at most
            counts = await publisher.flush()
            total.update(counts)
            if not counts or counts["pending"]:
                break
    finally:
        await publisher.stop()
    print(f"accepted {total['accepted']}, rejected {total['rejected']}, still pending {total['pending']}")
    return 0 if not total["rejected"] and not total["pending"] else 1
