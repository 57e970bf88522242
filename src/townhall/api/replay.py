"""Replay, clips and counts over HTTP: replay files under /replay/<space>/ (immutable), the public keys
at /.well-known/townhall/replay-keys.json, the live chain head, clips, counts and batched beacons.

Thin: every rule is in domain/replay/ and domain/counting.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute

from townhall.api.http import bearer, client_address, country_of, ok, op, read_json
from townhall.api.replay_schemas import BeaconsIn, BeaconsOut, ClipIn, ClipOut, CountsOut, ReplayOut
from townhall.api.runtime import runtime_of
from townhall.domain import counting as rules
from townhall.domain import tokens
from townhall.domain.errors import Invalid, NotFound, Unauthenticated
from townhall.domain.ids import ID_PATTERN
from townhall.domain.objects import live_prefix, replay_prefix
from townhall.services.clips import ClipService
from townhall.services.counting import Counted, CountingService
from townhall.services.recording_keys import ReplayKeys
from townhall.services.replay import ReplayService

IMMUTABLE = "public, max-age=31536000, immutable"
KEYS_PATH = "/.well-known/townhall/replay-keys.json"
SEGMENT = re.compile(r"^s\d{1,12}\.m4s\Z")
CLIP_FILE = re.compile(r"^clips/[A-Za-z0-9_-]{4,64}\.m4a\Z")
TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".json": "application/json", ".m4a": "audio/mp4"}


@dataclass
class Recording:
    replay: ReplayService
    counting: CountingService
    clips: ClipService
    keys: ReplayKeys


def _rec(request: Request) -> Recording:
    return runtime_of(request).recording


def _space_id(request: Request) -> str:
    space_id = request.path_params["space_id"]
    if not ID_PATTERN.match(space_id):
        raise NotFound("space_not_found", "no such space")
    return str(space_id)


# --- replay files and keys ----------------------------------------------------------------------
async def replay_file(request: Request) -> Response:
    params = request.path_params
    space_id = _space_id(request)
    name = f"clips/{params['clip_file']}" if "clip_file" in params else params["name"]
    rec = _rec(request)
    if CLIP_FILE.match(name):  # a clip may be played while its space is still live
        clip = await rec.clips.get(name.removeprefix("clips/").removesuffix(".m4a"))
        if clip["space_id"] != space_id:
            raise NotFound("clip_not_found", "no such clip")
        key = replay_prefix(space_id) + name
    else:
        await rec.replay.published(space_id)
        if name == "init.mp4" or SEGMENT.match(name):
            key = live_prefix(space_id) + name  # the very objects listeners were served live
        elif name in ("index.m3u8", "manifest.json", "audio.m4a"):
            key = replay_prefix(space_id) + name
        else:
            raise NotFound("replay_file_not_found", "no such replay file")
    blobs = runtime_of(request).blobs
    media_type = TYPES.get(Path(name).suffix, "audio/mp4")
    headers = {"Cache-Control": IMMUTABLE, "Access-Control-Allow-Origin": "*"}
    if name == "audio.m4a":
        headers["Content-Disposition"] = f'attachment; filename="townhall-{space_id}.m4a"'
    local = blobs.local_path(key)
    if local is not None and local.is_file():
        return FileResponse(local, media_type=media_type, headers=headers)
    data = await blobs.get(key)
    if data is None:
        raise NotFound("replay_file_not_found", "no such replay file")
    return Response(data, media_type=media_type, headers=headers)


async def replay_keys(request: Request) -> Response:
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return JSONResponse(_rec(request).keys.jwks(), headers=headers)


async def replay_info(request: Request) -> Response:
    rt = runtime_of(request)
    space_id = _space_id(request)
    record = await _rec(request).replay.published(space_id)
    base = f"{rt.public_url}/replay/{space_id}"
    return ok(
        ReplayOut(
            space_id=space_id,
            playlist_url=f"{base}/index.m3u8",
            audio_url=f"{base}/audio.m4a",
            manifest_url=f"{base}/manifest.json",
            keys_url=rt.public_url + KEYS_PATH,
            page_url=f"{rt.public_url}/r/{space_id}",
            segments=record.segments,
            duration_s=record.duration_ms / 1000,
            final_head=record.final_head or "",
            signed_by=record.kid or "",
            published_at=record.published_at or 0.0,
        ).model_dump()
    )


async def chain_head(request: Request) -> Response:
    head = await _rec(request).replay.live_head(_space_id(request))
    if head is None:
        raise NotFound("no_chain", "no segment of this space has been recorded yet")
    return ok(head)


# --- counts and beacons -------------------------------------------------------------------------
async def space_counts(request: Request) -> Response:
    rt = runtime_of(request)
    space = await rt.spaces.cached(_space_id(request))
    live_now = (await rt.admission.counts(space))[0] if space.is_live else None
    return ok(await _rec(request).counting.space_counts(space, live_now))


async def _viewer(request: Request, device_id: str | None, space_id: str | None = None) -> tuple[str, bool, bool]:
    """(viewer key, signed in, synthetic) of whoever sends a beacon or cuts a clip; with `space_id`, a listener
    token must be for that space (a token of space B does not cut clips of space A)."""
    rt = runtime_of(request)
    secret = _rec(request).counting.secret
    agent = request.headers.get("user-agent", "")
    credential = bearer(request)
    if credential and credential.startswith(f"{tokens.VERSION}.") and not tokens.is_session(credential):
        claims = tokens.verify(
            credential, rt.keys.keys, rt.clock(), tokens.Scope.LISTEN, space_id or tokens.peek_space(credential)
        )
        account_id, device_id = tokens.subject_ids(claims.subject)
        key = rules.viewer_key(secret, account_id=account_id, device_id=device_id)
        return key, account_id is not None, claims.synthetic or rules.is_bot(agent)
    if credential:
        account = await rt.accounts.authenticate(credential)
        return rules.viewer_key(secret, account_id=account.id), True, rules.is_bot(agent)
    key = rules.viewer_key(secret, device_id=device_id, address=client_address(request), user_agent=agent)
    return key, False, rules.is_bot(agent)


async def beacons(request: Request) -> Response:
    rt = runtime_of(request)
    rec = _rec(request)
    s = rt.settings
    body = await read_json(request, BeaconsIn)
    if len(body.events) > s.beacon_events_max:
        raise Invalid("too_many_events", f"a beacon carries at most {s.beacon_events_max} events")
    await rt.ctx.limit(
        f"rl:beacon:{client_address(request)}", s.beacons_per_minute_per_ip, 60, "too_many_beacons", "slow down"
    )
    viewer, signed_in, synthetic = await _viewer(request, body.device_id)
    items: list[Counted] = []
    replays: dict[str, float] = {}
    clips: dict[str, dict[str, Any] | None] = {}
    for e in body.events:
        replay_s = clip_s = 0.0
        if e.type == "replay_play":
            if e.space_id not in replays:
                record = await rec.replay.recordings.get(e.space_id)
                published = record is not None and record.state == "published"
                replays[e.space_id] = record.duration_ms / 1000 if record is not None and published else 0.0
            replay_s = replays[e.space_id]
        if e.clip_id is not None:
            if e.clip_id not in clips:
                clips[e.clip_id] = await rec.clips.clips.get(e.clip_id)
            clip = clips[e.clip_id]
            if clip is None or clip["space_id"] != e.space_id:
                continue
            clip_s = clip["duration_ms"] / 1000
        event = rules.Event(
            rules.Kind(e.type),
            e.space_id,
            viewer,
            synthetic,
            e.clip_id,
            e.played_s,
            e.continuous_s,
            rules.Surface(e.surface) if e.surface else None,
            signed_in,
        )
        if e.type != "replay_play" or replay_s > 0:
            items.append(Counted(event, e.id, replay_s, clip_s))
    outcome = await rec.counting.record(items)
    return ok(
        BeaconsOut(accepted=len(body.events), counted=outcome.counted, duplicates=outcome.duplicates).model_dump()
    )


# --- clips --------------------------------------------------------------------------------------
def clip_out(request: Request, row: dict[str, Any]) -> dict[str, object]:
    rt = runtime_of(request)
    return ClipOut(
        id=row["id"],
        space_id=row["space_id"],
        title=row["title"],
        start_s=row["start_ms"] / 1000,
        duration_s=row["duration_ms"] / 1000,
        source=row["source"],
        audio_url=f"{rt.public_url}/replay/{row['space_id']}/clips/{row['id']}.m4a",
        page_url=f"{rt.public_url}/c/{row['id']}",
        space_url=f"{rt.public_url}/s/{row['space_id']}",
        replay_page_url=f"{rt.public_url}/r/{row['space_id']}",
        sha256=row["sha256"],
        segments=row["segments"],
        created_at=row["created_at"],
    ).model_dump()


async def create_clip(request: Request) -> Response:
    body = await read_json(request, ClipIn)
    if not bearer(request):
        raise Unauthenticated("listener_required", "sign in, or send your listener token, to cut a clip")
    space_id = _space_id(request)
    creator, _, _ = await _viewer(request, None, space_id)
    clips = _rec(request).clips
    row = await clips.create(space_id, creator[:32], body.duration_s, body.start_s, body.title, country_of(request))
    return ok(clip_out(request, row), status=201)


async def list_clips(request: Request) -> Response:
    rows = await _rec(request).clips.of_space(_space_id(request))
    return ok({"clips": [clip_out(request, r) for r in rows]})


async def get_clip(request: Request) -> Response:
    rec = _rec(request)
    row = await rec.clips.get(request.path_params["clip_id"])
    return ok({**clip_out(request, row), "counts": await rec.counting.clip_counts(row["id"])})


def routes() -> list[BaseRoute]:
    t, s = "replay, clips and counts", "/api/spaces/{space_id}"
    return [
        op(
            "GET",
            KEYS_PATH,
            replay_keys,
            tag=t,
            summary="Public Ed25519 keys (JWK set) that sign replay manifests; retired keys stay listed",
        ),
        op(
            "GET",
            "/replay/{space_id}/{name}",
            replay_file,
            tag=t,
            errors=(403, 404, 410),
            summary="Replay files, immutable: index.m3u8 (VOD), init.mp4, s<n>.m4s, manifest.json (signed), "
            "audio.m4a (download)",
        ),
        op(
            "GET",
            "/replay/{space_id}/clips/{clip_file}",
            replay_file,
            tag=t,
            errors=(403, 404, 410),
            summary="A clip's audio, immutable: <clip id>.m4a (playable while its space is still live)",
        ),
        op(
            "GET",
            f"{s}/replay",
            replay_info,
            tag=t,
            response=ReplayOut,
            errors=(403, 404, 410),
            summary="The published replay: playlist, download and manifest URLs, final chain head, signing key",
        ),
        op(
            "GET",
            f"{s}/chain",
            chain_head,
            tag=t,
            errors=(404,),
            summary="The live chain head (msn, head, media_time): keep these to check the replay later",
        ),
        op(
            "GET",
            f"{s}/counts",
            space_counts,
            tag=t,
            response=CountsOut,
            errors=(404,),
            summary="Listens (live, peak, joins, uniques, replay and clip plays) and views, kept apart",
        ),
        op(
            "POST",
            f"{s}/clips",
            create_clip,
            tag=t,
            body=ClipIn,
            response=ClipOut,
            status=201,
            auth="session or listener token",
            errors=(400, 401, 403, 404, 410, 429, 451),
            summary="Cut a clip of up to 60 s (start_s from the recording's start, or omit for the latest audio)",
        ),
        op("GET", f"{s}/clips", list_clips, tag=t, summary="Clips of a space, newest first"),
        op(
            "GET",
            "/api/clips/{clip_id}",
            get_clip,
            tag=t,
            response=ClipOut,
            errors=(404, 410),
            summary="A clip: its audio, its page, the space it came from, its counts",
        ),
        op(
            "POST",
            "/api/beacons",
            beacons,
            tag=t,
            body=BeaconsIn,
            response=BeaconsOut,
            errors=(400, 401, 403, 413, 429),
            summary="Batched client events (replay_play, clip_play, impression), each with an id; "
            "acknowledged only once stored; a retried id is never counted twice",
        ),
    ]
