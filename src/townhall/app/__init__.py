"""The composition root: reads settings, opens each store from its URL, builds the services and
returns the ASGI app. The only place that chooses implementations; no other module does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from townhall.api.delivery import delivery_app
from townhall.api.errors import HANDLERS
from townhall.api.listen import LiveGate
from townhall.api.ops import AccessLog, GaugeCollector
from townhall.api.origin import LiveOrigin
from townhall.api.runtime import Runtime
from townhall.api.server import PUBLIC_READS, BodyDeadline, ThreadedServer
from townhall.api.shedding import Budgets, Load, ReadGate, Shedding
from townhall.api.trust.routes import WithheldGate
from townhall.api.whip import Publishing, WhipCors
from townhall.app.recording import build_recording
from townhall.app.roster import RosterReader
from townhall.app.trust import build_trust
from townhall.domain.errors import Unavailable
from townhall.domain.spaces import SpaceState
from townhall.media.mixer import MixerSettings
from townhall.media.node import MediaConfig, MediaNode
from townhall.media.programme import ProgrammeConfig
from townhall.media.relay import RemoteOrigin
from townhall.media.remote import RemotePublishing
from townhall.media.space import VoiceConfig
from townhall.media.thread import HostState, ThreadedMedia
from townhall.metrics import Metrics
from townhall.services.accounts import AccountService
from townhall.services.admission import AdmissionService
from townhall.services.context import Context
from townhall.services.keys import TokenKeys, load_or_create_secrets, parse_keys
from townhall.services.revocation import Revocations
from townhall.services.room import RoomService
from townhall.services.spaces import SpaceService
from townhall.services.stage import StageWatch
from townhall.settings import Settings
from townhall.store.blobs.base import BlobStore
from townhall.store.blobs.local import LocalBlobs
from townhall.store.sql import db as sqldb
from townhall.store.sql.repos import AccountRepo, MemberRepo, SessionRepo, SpaceRepo
from townhall.store.state.base import StateStore
from townhall.store.state.leases import MemoryLeases, RedisLeases
from townhall.store.state.presence import ShardedSeats

log = logging.getLogger("townhall")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'townhall.db').resolve()}"


def open_state(settings: Settings) -> StateStore:
    url = settings.state_url
    if url.startswith("memory://"):
        from townhall.store.state.memory import MemoryState

        return MemoryState(settings.lease_ttl_s, settings.wait_ticket_ttl_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from townhall.store.state.redis import RedisState

        s = settings
        return RedisState(url, s.lease_ttl_s, s.wait_ticket_ttl_s, s.state_prefix, s.state_max_connections)
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from townhall.store.state.redis_cluster import RedisClusterState

        s = settings
        return RedisClusterState(url, s.lease_ttl_s, s.wait_ticket_ttl_s, s.state_prefix, s.state_max_connections)
    raise ValueError(f"TOWNHALL_STATE_URL: unknown scheme in {url!r} (memory://, redis:// or redis+cluster://)")


def open_leases(settings: Settings) -> MemoryLeases | RedisLeases:
    url = settings.state_url
    if url.startswith("memory://"):
        return MemoryLeases()
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from townhall.store.state.redis_cluster import RedisClusterLeases

        return RedisClusterLeases(url, settings.state_prefix)
    return RedisLeases(url, settings.state_prefix)


def open_blobs(settings: Settings) -> BlobStore:
    url = settings.blob_url or f"file://{(settings.data_dir / 'blobs').resolve()}"
    if url.startswith("file://"):
        return LocalBlobs(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        from townhall.store.blobs.s3 import S3Blobs

        s = settings
        return S3Blobs.from_url(
            url,
            endpoint=s.blob_s3_endpoint,
            region=s.blob_s3_region,
            access_key_id=s.blob_s3_access_key_id,
            secret_access_key=s.blob_s3_secret_access_key,
            timeout_s=s.blob_s3_timeout_s,
            retries=s.blob_s3_retries,
        )
    raise ValueError(f"TOWNHALL_BLOB_URL: unknown scheme in {url!r} (file:// or s3://)")


def token_keys(settings: Settings) -> TokenKeys:
    if settings.token_keys:
        return parse_keys(settings.token_keys)
    return parse_keys(load_or_create_secrets(settings.data_dir)["token_keys"])


def media_config(s: Settings) -> MediaConfig:
    return MediaConfig(
        programme=ProgrammeConfig(
            s.media_part_frames, s.media_parts_per_segment, s.media_playlist_segments, s.media_aac_bit_rate
        ),
        mixer=MixerSettings(
            gate_dbfs=s.media_gate_dbfs, speaking_dbfs=s.media_speaking_dbfs, max_queue=s.media_jitter_frames
        ),
        voice=VoiceConfig(s.media_opus_bit_rate, s.media_opus_complexity, s.media_forward_pairs),
        publishers_max=s.whip_publishers_max,
    )


def edge_secret(settings: Settings) -> str:
    """The credential edges fetch live media from the origin with (a shared secret, never a default)."""
    return settings.edge_secret or load_or_create_secrets(settings.data_dir)["edge_secret"]


def relay_reader(settings: Settings, clock: Callable[[], float]) -> tuple[LiveOrigin, Callable[[], Awaitable[None]]]:
    """A reader of the live relay with connections of its own (they belong to the loop that first uses
    them), and what closes it: the scaled-out API's delivery server answers the edge from it."""
    state, leases = open_state(settings), open_leases(settings)
    reader = RemoteOrigin(state, leases, clock)

    async def close() -> None:
        await reader.close()
        await leases.close()
        await state.close()

    return reader, close


def build_runtime(settings: Settings, clock: Callable[[], float] = time.time, role: str = "embedded") -> Runtime:
    """Open every store, build every service and subscribe each to the others' events (`subscribe`).
    `role` "embedded" runs the media node in this process; "api" answers from media nodes running
    elsewhere (`townhall media`, app/node.py)."""
    s = settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sqldb.open_engine(database_url(s))
    state = open_state(s)
    blobs = open_blobs(s)
    keys = token_keys(s)
    metrics = Metrics()
    ctx = Context(settings=s, state=state, clock=clock)
    accounts = AccountService(ctx, AccountRepo(engine), SessionRepo(engine), keys)
    seats = ShardedSeats(state, state.lasting(s.open_lease_ttl_s), s.presence_shards, s.open_lease_ttl_s)  # 0012
    revocations = Revocations(ctx, state, state, seats, s.revocation_fresh_s)
    spaces = SpaceService(ctx, state, SpaceRepo(engine), MemberRepo(engine), AccountRepo(engine), keys, revocations)
    admission = AdmissionService(ctx, seats, spaces, keys, state)
    public = s.public_url.rstrip("/") or f"http://{s.host}:{s.port}"
    gauges = GaugeCollector()
    metrics.registry.register(gauges)
    origin: LiveOrigin
    publishing: Publishing
    media: ThreadedMedia | None = None
    if role == "embedded":
        host_state = HostState(state)  # the media node runs on its own thread, so the audio clock never waits
        media = ThreadedMedia(MediaNode(media_config(s), blobs, host_state, metrics.registry, clock=clock), host_state)
        origin = publishing = media
    elif role == "api":
        leases = open_leases(s)
        origin = RemoteOrigin(state, leases, clock)
        publishing = RemotePublishing(leases, state, edge_secret(s), clock)
    else:
        raise ValueError(f"unknown role {role!r} (embedded or api)")
    rt = Runtime(
        settings=s,
        clock=clock,
        db=engine,
        ping_db=lambda: sqldb.ping(engine),
        state=state,
        blobs=blobs,
        keys=keys,
        edge_secret=edge_secret(s),
        metrics=metrics,
        gauges=gauges,
        ctx=ctx,
        accounts=accounts,
        spaces=spaces,
        admission=admission,
        room=RoomService(ctx, state, spaces, admission),
        recording=build_recording(s, ctx, state, engine, blobs, spaces, admission, public, clock),
        trust=build_trust(s, ctx, engine, accounts, spaces, keys.signing_key, clock),
        public_url=public,
        listener_base_url=s.listener_base_url.rstrip("/") or public,
        origin=origin,
        publishing=publishing,
        media=media,
    )
    rt.shutdown.append(seats.renewals.close)  # the renewals held, written before the state closes
    subscribe(rt)
    return rt


def subscribe(rt: Runtime) -> None:
    """Every event's subscribers, in the order they run: the one place where the areas are joined."""
    rec, trust, media = rt.recording, rt.trust, rt.media

    # a join: the country gate (withholding orders) before a seat; then the durable count of the join
    # (a SQL commit on the join path: a join is answered only once it is counted)
    rt.admission.space_gates.append(trust.withholdings.gate)
    rec.clips.gates.append(trust.withholdings.check)  # no clip is cut where the space is withheld (451)
    rt.admission.on_join.append(rec.counting.joined)

    # the room state every listener polls: the chain head, then the public figures
    rt.room.contributors += [rec.replay.room_fields, rec.counting.room_summary]

    # a decision, then the misuse rules (Art. 23 DSA) over it; an unfounded complaint counts too
    trust.effects.after.append(trust.misuse.after_decision)
    trust.appeals.after_unfounded.append(trust.misuse.after_unfounded_complaint)

    # a space goes live: its programme starts on this process's media node (or on the node that claims it)
    # a space ends, in this order: the programme stops (its last segment stored), the recording is
    # noted and finished, and last the seats are dropped (counting has read the final figures by then)
    if media is not None:
        rt.spaces.on_live.append(media.ensure_space)
        rt.spaces.on_end.append(lambda space: media.stop_space(space.id))
        media.on_segment(rec.replay.on_segment)  # each stored segment extends the hash chain ...
        rec.replay.on_head.append(media.set_chain_head)  # ... whose head the live playlist then lists
    else:  # media nodes elsewhere chain each segment themselves; they are told of starts and ends
        assert isinstance(rt.publishing, RemotePublishing) and isinstance(rt.origin, RemoteOrigin)
        control, origin, publishing = rt.publishing.control, rt.origin, rt.publishing
        rt.spaces.on_live.append(lambda space: control.ensure_space(space.id))
        rt.spaces.on_end.append(lambda space: control.stop_space(space.id))
        rt.shutdown += [origin.close, publishing.close]
    rt.spaces.on_end.append(rec.replay.ended)
    rt.spaces.on_end.append(lambda space: rt.admission.seats.drop_space(space.id))

    # start-up, in order (stopped in the reverse order)
    if media is not None:
        roster = RosterReader(media, MemberRepo(rt.db), rt.settings.media_roster_reconcile_s)
        rt.startup += [lambda: resume_live(rt, media), roster.start]
        rt.shutdown += [media.stop, roster.stop]
    rt.startup += [rec.replay.start, rec.counting.start, trust.effects.resume]
    rt.shutdown += [rec.counting.stop, rec.replay.stop]
    # a live space nobody has been on stage in for a while ends by itself (its media node marks the stage)
    stage = StageWatch(rt.ctx, rt.state, rt.spaces, rt.settings.unattended_end_s)
    rt.startup.append(stage.start)
    rt.shutdown.append(stage.stop)
    tdb = trust.tdb
    if tdb is not None:
        rt.startup.append(lambda: tdb.start(rt.settings.dsa_tdb_every_s))
        rt.shutdown.append(tdb.stop)


async def resume_live(rt: Runtime, media: ThreadedMedia) -> None:
    """Start the media node and every space that was live when this process last stopped."""
    await media.start()
    for space in await rt.spaces.find([SpaceState.LIVE], rt.settings.list_limit_max):
        await media.ensure_space(space)


SHUTDOWN_STEP_S = 15.0  # a stop step waiting on a dependency that no longer answers is abandoned after this


async def _bounded(step: Callable[[], Awaitable[object]]) -> None:
    """Run one step of stopping; a dependency that hangs costs a warning, never a process that cannot stop."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_S):
            await step()
    except TimeoutError:
        name = getattr(step, "__qualname__", step)
        log.warning("stopping: %s did not finish in %.0f s; going on", name, SHUTDOWN_STEP_S)


async def _start(rt: Runtime) -> None:
    for hook in rt.startup:
        await hook()
    rt.started = True


START_RETRY_S = (0.5, 5.0)  # first and longest wait between attempts to start while the hot state is away


async def _start_when_state_answers(rt: Runtime) -> None:
    """Run the startup hooks once the hot state answers; a hook that fails because a backend went away
    again is run again (each hook fails before it starts anything, so running it again is safe)."""
    wait_s, done = START_RETRY_S[0], 0
    while True:
        try:
            if await rt.state.ping():
                while done < len(rt.startup):
                    await rt.startup[done]()
                    done += 1
                rt.started = True
                log.info("the hot state answers: started, ready")
                return
        except Unavailable as exc:
            log.warning("starting: %s (%s); trying again in %.1f s", exc.message, exc.code, wait_s)
        await asyncio.sleep(wait_s)
        wait_s = min(START_RETRY_S[1], wait_s * 2)


def area_routes() -> list[BaseRoute]:
    """Each area's routes, declared by its API module."""
    from townhall.api import accounts, dash, events, listen, ops, origin, replay, spaces, web, whip
    from townhall.api.trust import routes as trust

    return [
        *ops.routes(),
        *accounts.routes(),
        *spaces.routes(),
        *listen.routes(),
        *web.routes(),
        *whip.routes(),
        *dash.routes(),
        *origin.routes(),
        *events.routes(),
        *replay.routes(),
        *trust.routes(),
    ]


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    rt = runtime or build_runtime(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        await sqldb.migrate(str(rt.db.url.render_as_string(hide_password=False)))
        starting: asyncio.Task[None] | None = None
        if await rt.state.ping():
            await _start(rt)
        else:  # serve at once (/readyz says 503) and start by itself once the hot state answers
            log.warning("the hot state does not answer: serving as not ready until it does")
            starting = asyncio.create_task(_start_when_state_answers(rt), name="start-when-state-answers")
        try:
            # the server's own state: its protocols read the public port's gate from it (api/server.py)
            yield {
                PUBLIC_READS: ReadGate(load, s.public_read_lag_ms / 1000, s.public_reads_per_s, bool(s.internal_port))
            }
        finally:
            if starting is not None and not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
            for hook in [*reversed(rt.shutdown), rt.state.close, rt.db.dispose]:
                await _bounded(hook)

    s = rt.settings
    load = Load(rt.metrics.loop_lag.set)
    rt.startup.insert(0, load.start)
    rt.shutdown.insert(0, load.stop)
    budgets = Budgets(
        s.shed_public_inflight,
        s.shed_listener_inflight,
        s.shed_staff_inflight,
        s.shed_loop_lag_ms / 1000,
        s.shed_retry_after_s,
    )
    shed = rt.metrics.shed
    app = Starlette(
        routes=area_routes(),
        middleware=[
            Middleware(AccessLog),
            # priority admission first: a refused request costs no more than its head (api/shedding.py)
            Middleware(
                Shedding,
                budgets=budgets,
                load=load,
                known_session=rt.accounts.seen_valid,
                on_shed=lambda lane: shed.labels(lane).inc(),
            ),
            Middleware(BodyDeadline, idle_s=s.body_idle_s),
            Middleware(WhipCors),
            Middleware(LiveGate),
            Middleware(WithheldGate),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.load = load
    if s.delivery_port:  # the edge's live media, off the API's loop
        if rt.media is not None:  # from this process's media node, one hop onto its loop
            delivery = ThreadedServer(delivery_app(rt), s.internal_host, s.delivery_port, "media-delivery")
        else:  # from the relay, read on the delivery server's own loop
            own = delivery_app(rt, functools.partial(relay_reader, s, rt.clock))
            delivery = ThreadedServer(own, s.internal_host, s.delivery_port, "media-delivery", lifespan=True)
        rt.startup.append(delivery.start)
        rt.shutdown.append(delivery.stop)  # stopped first (shutdown runs in reverse), before the media node
    return app
