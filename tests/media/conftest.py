"""Media fixtures: the real app on a free port with a live space, speakers with tokens, and an LL-HLS
follower that uses blocking playlist reload and decodes what it fetched with PyAV."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
import pytest
import pytest_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection
from tests.conftest import TEST_KEYS
from tests.support.servers import LiveServer, live_server

from townhall.domain.tokens import Claims, Scope, sign
from townhall.media.mixer import FRAME, RATE, SILENCE
from townhall.media.synthetic import SignalTrack
from townhall.settings import Settings


@dataclass
class Stage:
    """A live space on a running server, and the people in it."""

    server: LiveServer
    host: Any
    space_id: str
    http: httpx.AsyncClient

    @property
    def rt(self) -> Any:
        return self.server.runtime

    @property
    def whip_url(self) -> str:
        return f"{self.server.url}/whip/{self.space_id}"

    @property
    def live(self) -> Any:
        return self.rt.media.node.spaces[self.space_id]

    async def host_token(self) -> str:
        return str(await self.rt.spaces.speaker_token(self.host, self.space_id))

    async def speaker(self, handle: str) -> tuple[Any, str]:
        account = (await self.rt.accounts.register(handle, "password-" + handle, "127.0.0.1")).account
        await self.rt.spaces.invite(self.host, self.space_id, account.id)
        await self.rt.spaces.accept_invite(account, self.space_id)
        return account, str(await self.rt.spaces.speaker_token(account, self.space_id))


@contextlib.asynccontextmanager
async def live_stage(settings: Settings) -> AsyncIterator[Stage]:
    async with live_server(settings) as server:
        rt = server.runtime
        host = (await rt.accounts.register("host_one", "password-host", "127.0.0.1")).account
        space = await rt.spaces.create(host, "Media test", None, None)
        await rt.spaces.start(host, space.id)
        async with server.edge_client() as http:  # reads live media at the origin as the edge does
            yield Stage(server, host, space.id, http)


@pytest.fixture
async def stage(settings: Settings) -> AsyncIterator[Stage]:
    async with live_stage(settings) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_stage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stage]:
    """One live space for a module of tests that each leave it as they found it (refusals)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("media") / "data",
        token_keys=TEST_KEYS,
        log_level="warning",
        whip_offers_per_second=1000,
    )
    async with live_stage(settings) as s:
        yield s


def peer_connections() -> int:
    return sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects())


async def offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SignalTrack(lambda i: SILENCE), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def token_for(
    stage: Stage, account_id: str, scope: Scope = Scope.SPEAK, space_id: str | None = None, expires: int | None = None
) -> str:
    keys = stage.rt.keys
    claims = Claims(
        keys.signing_kid,
        scope,
        space_id or stage.space_id,
        f"a-{account_id}",
        expires if expires is not None else int(stage.rt.clock()) + 600,
    )
    return sign(claims, keys.signing_key)


async def post(stage: Stage, sdp: str | bytes, token: str | None, content_type: str = "application/sdp") -> Any:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await stage.http.post(f"/whip/{stage.space_id}", content=sdp, headers=headers)


PART_LINE = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="p(\d+)\.(\d+)\.m4s"')


@dataclass
class Follower:
    """Follows media.m3u8 with blocking reload (as hls.js does) and fetches each new part once."""

    http: httpx.AsyncClient
    base: str  # .../live/<space>
    parts: list[tuple[int, int, bytes, float]] = field(default_factory=list)  # msn, index, data, fetched at
    init: bytes = b""
    playlists: list[str] = field(default_factory=list)

    async def follow(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        self.init = (await self.http.get(f"{self.base}/init.mp4")).content
        text = (await self.http.get(f"{self.base}/media.m3u8")).text
        seen: set[tuple[int, int]] = set()
        first = True
        while loop.time() < end:
            listed = [(int(m), int(i)) for _, m, i in PART_LINE.findall(text)]
            if first:  # start at the live edge, as a player does
                seen.update(listed)
                first = False
            for msn, index in listed:
                if (msn, index) not in seen:
                    seen.add((msn, index))
                    data = (await self.http.get(f"{self.base}/p{msn}.{index}.m4s")).content
                    self.parts.append((msn, index, data, loop.time()))
            nxt = re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"', text)
            assert nxt, text
            response = await self.http.get(
                f"{self.base}/media.m3u8", params={"_HLS_msn": nxt.group(1), "_HLS_part": nxt.group(2)}
            )
            assert response.status_code == 200, response.text
            text = response.text
            self.playlists.append(text)

    def audio(self) -> np.ndarray:
        return decode(self.init + b"".join(p[2] for p in self.parts))


def decode(mp4: bytes) -> np.ndarray:
    """Decode fMP4 AAC with PyAV (FFmpeg) into float mono samples at 48 kHz."""
    with av.open(io.BytesIO(mp4), mode="r", format="mp4") as container:
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def band_energy(samples: np.ndarray, freq: float, window: int = FRAME) -> np.ndarray:
    """Energy of `freq` in consecutive windows of `samples` (a single-bin DFT per window)."""
    n = len(samples) // window
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * window].reshape(n, window).astype(np.float64)
    if np.abs(frames).max() > 2:  # int16 samples: scale to [-1, 1] like decoded float audio
        frames = frames / 32768.0
    probe = np.exp(-2j * np.pi * freq * np.arange(window) / RATE)
    energy: np.ndarray = np.abs(frames @ probe) / window
    return energy


def onsets(energy: np.ndarray, threshold: float = 0.02, gap: int = 10) -> list[int]:
    """Window indices where the energy rises over the threshold after at least `gap` quiet windows
    (so a burst with a hole in it, as a loaded machine can cause, still counts once)."""
    above = np.flatnonzero(energy > threshold)
    return [int(i) for k, i in enumerate(above) if k == 0 or i - above[k - 1] > gap]
