"""Request and response bodies of the foundation's endpoints; the OpenAPI document comes from here.

Shapes only: limits that are settings are checked in the domain, not in these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _no_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text cannot contain a NUL character (U+0000)")
    if isinstance(value, list | tuple | set):
        for item in value:
            _no_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)


class Body(BaseModel):
    """A request body: unknown fields, NaN, Infinity and NUL characters (which PostgreSQL refuses in text)
    are a 400 before anything reaches a store."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        _no_nul(value)
        return value


class Credentials(Body):
    handle: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    account_id: str
    handle: str
    session_token: str
    expires_at: float


class AccountOut(BaseModel):
    id: str
    handle: str
    status: str
    suspended_until: float | None = None
    platform_roles: list[str] = []


class SpaceIn(Body):
    title: str = Field(max_length=1000)
    scheduled_start: float | None = Field(None, description="Unix seconds; omit to start when you go live")
    listener_cap: int | None = Field(None, ge=1)
    admissions_per_minute: int | None = Field(
        None, ge=1, description="the waiting room's pace: new admissions a minute; omit for the platform's default"
    )
    recording: bool = True
    replay_public: bool = True


class CapIn(Body):
    listener_cap: int | None = Field(None, ge=1)
    admissions_per_minute: int | None = Field(None, ge=1, description="omit to keep the pace as it is")


class SpaceOut(BaseModel):
    id: str
    title: str
    state: str
    host_id: str
    host: str | None = None
    created_at: float
    scheduled_start: float | None
    started_at: float | None
    ended_at: float | None
    ended_reason: str | None = None
    listener_cap: int | None
    admissions_per_minute: int
    under_attack: bool
    recording: bool
    replay_public: bool
    page_url: str


class SpaceList(BaseModel):
    spaces: list[SpaceOut]


class MemberOut(BaseModel):
    account_id: str
    handle: str
    role: str
    muted: bool
    invited: bool = False


class RosterOut(BaseModel):
    members: list[MemberOut]


class TargetIn(Body):
    account_id: str = Field(max_length=64)


class MuteIn(Body):
    account_id: str = Field(max_length=64)
    muted: bool = True


class ProofIn(Body):
    challenge: str = Field(max_length=300)
    nonce: str = Field(max_length=64)


class JoinIn(Body):
    device_id: str | None = Field(
        None,
        max_length=64,
        description="anonymous listeners: a random id the client keeps; signed-in listeners send their session instead",
    )
    proof: ProofIn | None = Field(
        None, description="a solved challenge (POST .../challenge), when the space is under attack"
    )


class JoinOut(BaseModel):
    status: str = Field(description="admitted or waiting")
    token: str | None = None
    lease_expires: float | None = None
    renew_every_s: float | None = None
    position: int | None = Field(None, description="1 is next; 0 before the start (places are drawn at the start)")
    ticket: str | None = Field(None, description="waiting: keep it and poll POST .../queue with it")
    poll_after_s: float | None = None
    playlist_url: str | None = None
    state_url: str | None = None


class ChallengeOut(BaseModel):
    challenge: str
    difficulty: int = Field(description="leading zero bits of SHA-256(challenge + ':' + nonce); 0: none needed")
    expires: int


class UnderAttackIn(Body):
    on: bool


class ReactionIn(Body):
    kind: str = Field(max_length=32)
    device_id: str | None = Field(None, max_length=64)


class SpeakerTokenOut(BaseModel):
    token: str
    whip_url: str


class QueueOut(BaseModel):
    position: int


class Problem(BaseModel):
    code: str
    message: str
