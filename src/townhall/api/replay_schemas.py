"""Request and response bodies of replay, clips, counts and beacons; the OpenAPI document comes from here.

Shapes only: what counts and what is allowed is decided in the domain.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from townhall.api.schemas import Body


class ReplayOut(BaseModel):
    space_id: str
    playlist_url: str = Field(description="VOD playlist (EXT-X-PLAYLIST-TYPE:VOD) over the segments heard live")
    audio_url: str = Field(description="one downloadable audio file, remuxed from the same segments")
    manifest_url: str = Field(description="every segment hash, gap and the final chain head, signed (Ed25519)")
    keys_url: str
    page_url: str
    segments: int
    duration_s: float
    final_head: str
    signed_by: str
    published_at: float


class ClipIn(Body):
    duration_s: float = Field(gt=0, le=3600, description="at most clip_max_s (60 s by default)")
    start_s: float | None = Field(
        None, ge=0, le=10_000_000, description="seconds from the recording's start; omit for the latest"
    )
    title: str = Field("", max_length=500)


class ClipOut(BaseModel):
    id: str
    space_id: str
    title: str
    start_s: float
    duration_s: float
    source: str = Field(description="live or replay")
    audio_url: str
    page_url: str
    space_url: str
    replay_page_url: str
    sha256: str
    segments: list[dict[str, Any]] = Field(description="msn and sha256 of each original segment it was cut from")
    created_at: float


class BeaconEvent(Body):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="unique per event (UUIDv7); retries reuse it")
    type: Literal["replay_play", "clip_play", "impression"]
    space_id: str = Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")
    clip_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{4,64}$")
    played_s: float = Field(0.0, ge=0, le=86400 * 7, description="replay_play: seconds of audio played so far")
    continuous_s: float = Field(0.0, ge=0, le=86400, description="clip_play: longest continuous run played")
    surface: Literal["space_page", "share_card", "clip_page", "embed"] | None = Field(
        None, description="impression: what was seen"
    )


class BeaconsIn(Body):
    device_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{8,64}$")
    events: list[BeaconEvent] = Field(max_length=1000)


class BeaconsOut(BaseModel):
    accepted: int
    counted: int
    duplicates: int


class CountsOut(BaseModel):
    space_id: str
    listens: dict[str, Any] = Field(description="live concurrent, peak, joins, unique listeners, replay and clip plays")
    views: dict[str, Any] = Field(description="impressions (not unique), always with their label; never listens")
    combined_unique_reach: int = Field(description="distinct people exposed live, by replay, by clip or by a view")
    synthetic: dict[str, Any] = Field(description="bots and load generators, counted apart")
    uniques_are_estimates: bool
