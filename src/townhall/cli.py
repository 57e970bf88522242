"""The `townhall` command: serve, demo, and admin verbs. Parses arguments and calls; holds no logic."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from townhall.settings import Settings

Verb = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
VERBS: dict[str, tuple[Verb, str, Callable[[argparse.ArgumentParser], None]]] = {}


def verb(
    name: str, help_text: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Verb], Verb]:
    def register(fn: Verb) -> Verb:
        VERBS[name] = (fn, help_text, args)
        return fn

    return register


class JsonLines(logging.Formatter):
    """One JSON object per line; access lines are JSON already and pass through unchanged."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "townhall.access":
            return message
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key in ("space_id", "request_id", "path"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


# Libraries that narrate every ICE check, migration step or HTTP call: warnings only.
CHATTY = ("aioice", "aiortc", "alembic", "httpx", "httpcore", "websockets")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--data-dir")


def _apply(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings with the command line's --host, --port and --data-dir applied (validated as usual)."""
    given = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    updates = {k: v for k, v in given.items() if v is not None}
    return Settings.model_validate({**settings.model_dump(), **updates}) if updates else settings


async def run_server(
    app: Any, settings: Settings, started: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    """Serve until the server exits, or until `stop` is set (a graceful shutdown: lifespan hooks run)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="none",
        http="httptools",
        ws="auto",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.05)
    if started is not None:
        started.set()
    if stop is not None:
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        server.should_exit = True
    await task


@dataclass(frozen=True)
class Served:
    app: Any
    task: asyncio.Task[None]  # done early only if the server stopped by itself


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Served]:
    """The app built from `settings`, served in this event loop for the block, then shut down gracefully
    (lifespan hooks run: the media node hangs up, counting drains). For the demo and the benchmarks."""
    from townhall.app import build_app

    app = build_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_server(app, settings, started, stop))
    await started.wait()
    if task.done():
        task.result()  # it failed to start: raise why
    try:
        yield Served(app, task)
    finally:
        stop.set()
        await task


@verb("serve", "run the control plane (and media node) on the embedded default", _serve_args)
async def serve(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_app

    settings = _apply(args, settings)
    print(f"townhall serving on http://{settings.host}:{settings.port}  (data in {settings.data_dir})", flush=True)
    await run_server(build_app(settings), settings)
    return 0


def _scaled_out(settings: Settings, role: str) -> str | None:
    """Why `settings` cannot run `role` of the scaled-out form (None when they can)."""
    if settings.state_url.startswith("memory://"):
        return f"townhall {role}: the scaled-out form shares its hot state: set TOWNHALL_STATE_URL=redis://..."
    if not settings.database_url.startswith("postgresql"):
        return f"townhall {role}: the scaled-out form shares its database: set TOWNHALL_DATABASE_URL=postgresql+asyncpg://..."
    return None


@verb("api", "run a control plane and origin of the scaled-out form (media nodes run apart)", _serve_args)
async def api(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_app, build_runtime

    settings = _apply(args, settings)
    if (why := _scaled_out(settings, "api")) is not None:
        print(why, file=sys.stderr)
        return 2
    print(f"townhall api on http://{settings.host}:{settings.port}", flush=True)
    await run_server(build_app(runtime=build_runtime(settings, role="api")), settings)
    return 0


@verb("media", "run a media node of the scaled-out form: claims live spaces, runs their audio", _serve_args)
async def media(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app.node import build_media_role, media_app

    settings = _apply(args, settings)
    if (why := _scaled_out(settings, "media")) is not None:
        print(why, file=sys.stderr)
        return 2
    role = build_media_role(settings)
    print(f"townhall media node {role.membership.node_id} on http://{settings.host}:{settings.port}", flush=True)
    await run_server(media_app(role), settings)
    return 0


@verb("demo", "serve plus a ready live space with synthetic speakers; prints its URL", _serve_args)
async def demo(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.demo import run_demo

    if "log_level" not in settings.model_fields_set:
        setup_logging("warning")  # the demo's terminal shows its links, not every request
    return await run_demo(_apply(args, settings))


def _edge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="where the edge listens (TOWNHALL_EDGE_PORT)")
    p.add_argument("--origin", help="what it fetches from: the origin or a shield (TOWNHALL_EDGE_ORIGIN_URL)")
    p.add_argument("--role", choices=["edge", "shield"], help="shield: a tier that only edges reach")
    p.add_argument("--data-dir")


@verb("edge", "run a Varnish edge (or shield) in front of the origin: tokens, collapsing, limits", _edge_args)
async def edge(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from townhall.app import edge_secret, token_keys
    from townhall.edge.serve import run_edge

    updates = {"edge_port": args.port, "edge_origin_url": args.origin, "edge_role": args.role}
    updates["data_dir"] = Path(args.data_dir) if args.data_dir else None
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    return await run_edge(settings, lambda: token_keys(settings).keys, edge_secret(settings))


def _grant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("handle")
    p.add_argument("role", choices=["admin", "moderator", "trusted_flagger"])
    p.add_argument("--data-dir")


@verb("grant", "give an account a platform role (admin, moderator, trusted_flagger)", _grant_args)
async def grant(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_runtime
    from townhall.store.sql import db as sqldb

    rt = build_runtime(_apply(args, settings))
    await sqldb.migrate(rt.db.url.render_as_string(hide_password=False))
    account = await rt.accounts.by_handle(args.handle)
    account = await rt.accounts.grant(account.id, args.role)
    print(f"{account.handle}: {', '.join(sorted(account.platform_roles))}")
    await rt.db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    import townhall.trust.cli_verbs  # registers audit, transparency-report, sor
    import townhall.verify  # noqa: F401  (registers the verify verb)

    parser = argparse.ArgumentParser(prog="townhall", description="live audio spaces for very large audiences")
    sub = parser.add_subparsers(dest="verb", required=True)
    for name, (_, help_text, add_args) in VERBS.items():
        add_args(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level)
    fn = VERBS[args.verb][0]
    try:
        import uvloop

        return uvloop.run(fn(args, settings))
    except ImportError:
        return asyncio.run(fn(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
