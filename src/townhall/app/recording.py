"""Builds the recording area: replay (hash chain, publication), counting and clips. Called by the root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.api.replay import KEYS_PATH, Recording
from townhall.services.admission import AdmissionService
from townhall.services.clips import ClipService
from townhall.services.context import Context
from townhall.services.counting import CountingService
from townhall.services.recording_keys import ReplayKeys, viewer_secret
from townhall.services.replay import ReplayService
from townhall.services.spaces import SpaceService
from townhall.settings import Settings
from townhall.store.blobs.base import BlobStore
from townhall.store.sql.repos_recording import ChainRepo, ClipRepo, CountLedger, RecordingRepo
from townhall.store.state.base import StateStore


def build_recording(
    s: Settings,
    ctx: Context,
    state: StateStore,
    db: AsyncEngine,
    blobs: BlobStore,
    spaces: SpaceService,
    admission: AdmissionService,
    public_url: str,
    clock: Callable[[], float],
) -> Recording:
    path = Path(s.replay_keys_file) if s.replay_keys_file else s.data_dir / "replay-keys.json"
    keys = ReplayKeys(path).load(clock())
    replay = ReplayService(ctx, state, ChainRepo(db), RecordingRepo(db), blobs, keys, public_url + KEYS_PATH)
    secret = viewer_secret(s.count_viewer_secret, s.data_dir)
    counting = CountingService(ctx, state, CountLedger(db), spaces, admission, secret)
    return Recording(replay, counting, ClipService(ctx, ClipRepo(db), spaces, replay), keys)
