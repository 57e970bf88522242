"""Recording fixtures: the app on either state backend, and real AAC fMP4 segments (the media node's
own encoder and packager) fed through the replay's on_segment hook as the media node would."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.support.servers import REDIS_URL
from tests.support.state import redis_prefix
from townhall.domain.spaces import Space, SpaceState
from townhall.settings import Settings

SEGMENTS = 6


@functools.cache
def synthetic_programme(n: int = SEGMENTS) -> tuple[bytes, tuple[Any, ...]]:
    """(init section, segments) of a tone, cut exactly as the media node cuts its programme."""
    from townhall.media.encoder import AacEncoder
    from townhall.media.packager import Packager, init_segment

    encoder, packager = AacEncoder(), Packager(10, 9)
    segments: list[Any] = []
    i = 0
    while len(segments) < n:
        tone = (np.sin(np.arange(960) * 0.06 + i) * 6000).astype(np.int16)
        for unit in encoder.encode(tone):
            _, segment = packager.add(unit)
            if segment is not None:
                segments.append(segment)
        i += 1
    return init_segment(encoder.audio_specific_config, 64_000), tuple(segments[:n])


async def feed(rt: Any, space_id: str, skip: tuple[int, ...] = (), pause_before: int | None = None) -> None:
    """Store the synthetic programme under live/<space>/ and announce each segment, as the media node does."""
    init, segments = synthetic_programme()
    await rt.blobs.put_immutable(f"live/{space_id}/init.mp4", init)
    wall = 1_700_000_000.0
    for seg in segments:
        if seg.msn == pause_before:
            wall += 30.0  # a media node restart: wall-clock time with no audio
        key = f"live/{space_id}/{seg.name}"
        if seg.msn not in skip:
            await rt.blobs.put_immutable(key, seg.data)
            record = SimpleNamespace(
                msn=seg.msn,
                key=key,
                media_time=seg.start,
                duration=seg.duration / 48_000,
                sha256=hashlib.sha256(seg.data).hexdigest(),
                program_date_time=wall,
            )
            await rt.recording.replay.extend(space_id, record)
        wall += seg.duration / 48_000
    await rt.blobs.put_mutable(f"live/{space_id}/media.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n")


def ended_space(space_id: str, public: bool = True, now: float = 1_700_000_100.0) -> Space:
    return Space(
        space_id,
        "host",
        "t",
        SpaceState.ENDED,
        now - 100,
        recording=True,
        replay_public=public,
        started_at=now - 100,
        ended_at=now,
    )


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def running_app(settings: Settings, backend: str) -> AsyncIterator[Any]:
    from townhall.app import build_app, build_runtime

    async with contextlib.AsyncExitStack() as stack:
        if backend == "redis":
            prefix = await stack.enter_async_context(redis_prefix())
            settings = settings.model_copy(update={"state_url": f"{REDIS_URL}/0", "state_prefix": prefix})
        app = build_app(runtime=build_runtime(settings))
        async with app.router.lifespan_context(app):
            yield app


@pytest.fixture
async def rec_app(settings: Settings, backend: str) -> AsyncIterator[Any]:
    async with running_app(settings, backend) as app:
        yield app


def export(blobs_root: Path, space_id: str, folder: Path) -> Path:
    """Copy a published replay as a folder, the way `townhall verify` reads one."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in (blobs_root / "replay" / space_id).glob("*"):
        if src.is_file():
            (folder / src.name).write_bytes(src.read_bytes())
    for src in (blobs_root / "live" / space_id).glob("*"):
        if src.is_file() and (src.name == "init.mp4" or src.name.startswith("s")):
            (folder / src.name).write_bytes(src.read_bytes())
    return folder
