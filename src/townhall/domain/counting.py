"""Counting rules (spec trust-and-views §9): viewer keys, what qualifies as a play, de-duplication windows,
and which totals and uniques one event moves. Listens and views are kept apart; bots are counted apart.

Pure: no I/O, no clock (times are parameters). Never adds a listener figure to a view figure.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum

REPLAY_QUALIFY_S = 60.0  # IAB podcast guidelines: one minute of audio
WHOLE_REPLAY_SLACK_S = 1.0  # a replay shorter than a minute counts when played to within this of its end
CLIP_QUALIFY_S = 2.0  # continuous seconds (MRC video viewability)
DEDUPE_WINDOW_S = 86_400  # one play per viewer per replay (or clip) per 24 hours
EVENT_ID_TTL_S = 3_600  # a retried beacon within the hour is recognised
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")

# Known crawlers and tools (a short list after the IAB/ABC spiders-and-bots rules): counted apart.
_BOT_UA = re.compile(
    r"bot|crawl|spider|slurp|facebookexternalhit|embedly|preview|curl|wget|python-requests|httpx|aiohttp|python-urllib|"
    r"go-http-client|headless|lighthouse|pingdom|uptime|monitor",
    re.IGNORECASE,
)


class Kind(StrEnum):
    JOIN = "join"  # admitted to the live stream (from the control plane, not a beacon)
    REPLAY_PLAY = "replay_play"  # beacon: how much of the replay was played
    CLIP_PLAY = "clip_play"  # beacon: continuous seconds of a clip played
    IMPRESSION = "impression"  # beacon: a page or card was seen


class Surface(StrEnum):
    SPACE_PAGE = "space_page"
    SHARE_CARD = "share_card"
    CLIP_PAGE = "clip_page"
    EMBED = "embed"  # off-site embeds: stored apart, never added to views


@dataclass(slots=True)  # not frozen: one is built per event on the hot path, and a frozen init costs 4x
class Event:
    kind: Kind
    space_id: str
    viewer: str  # the viewer key (see viewer_key)
    synthetic: bool = False
    clip_id: str | None = None
    played_s: float = 0.0  # replay: seconds of audio played in this play
    continuous_s: float = 0.0  # clip: longest continuous run played
    surface: Surface | None = None
    logged_in: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What one event changes: exact totals (subject, metric) and HLL keys, once `dedupe` (if any) is new."""

    totals: tuple[tuple[str, str], ...] = ()
    uniques: tuple[str, ...] = ()
    dedupe: str | None = None  # a key first seen within DEDUPE_WINDOW_S, or the event is not counted

    @property
    def counts(self) -> bool:
        return bool(self.totals or self.uniques)


def viewer_key(
    secret: bytes,
    account_id: str | None = None,
    device_id: str | None = None,
    address: str | None = None,
    user_agent: str = "",
) -> str:
    """A keyed hash (BLAKE2b MAC, RFC 7693) of the account, else the device, else address (/64 for IPv6)
    and user agent (IAB). Keyed BLAKE2b rather than HMAC-SHA256: the same guarantee at a third of the cost."""
    if account_id:
        basis = "a:" + account_id
    elif device_id:
        basis = "d:" + device_id
    else:
        basis = "n:" + _address_basis(address or "") + "|" + user_agent
    return hashlib.blake2b(basis.encode(), key=secret[:64], digest_size=16).hexdigest()


def _address_basis(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(_BOT_UA.search(user_agent))


def replay_qualifies(played_s: float, replay_duration_s: float) -> bool:
    """60 s of audio, or the whole replay when it is shorter than that."""
    if replay_duration_s < REPLAY_QUALIFY_S:
        return played_s >= max(0.0, replay_duration_s - WHOLE_REPLAY_SLACK_S) and played_s > 0
    return played_s >= REPLAY_QUALIFY_S


def clip_qualifies(continuous_s: float, clip_duration_s: float) -> bool:
    return continuous_s >= min(CLIP_QUALIFY_S, max(0.0, clip_duration_s - 0.1)) and continuous_s > 0


def _metric(name: str, synthetic: bool) -> str:
    return f"{name}_synthetic" if synthetic else name


def _hll(key: str, synthetic: bool) -> str:
    return f"{key}:synthetic" if synthetic else key


def space_subject(space_id: str) -> str:
    return f"space:{space_id}"


def clip_subject(clip_id: str) -> str:
    return f"clip:{clip_id}"


def live_hll(space_id: str, synthetic: bool = False) -> str:
    return _hll(f"hll:space:{space_id}:live", synthetic)


def reach_hll(space_id: str) -> str:
    return f"hll:space:{space_id}:reach"


def replay_hll(space_id: str, synthetic: bool = False) -> str:
    return _hll(f"hll:rec:{space_id}:replay", synthetic)


def clip_hll(clip_id: str, synthetic: bool = False) -> str:
    return _hll(f"hll:clip:{clip_id}:plays", synthetic)


@functools.lru_cache(maxsize=4096)
def join_plan(space: str, synthetic: bool) -> Plan:
    """A join's plan depends only on its space and whether it is synthetic: built once (the hot path)."""
    reach = () if synthetic else (reach_hll(space),)
    return Plan(((space_subject(space), _metric("joins", synthetic)),), (live_hll(space, synthetic), *reach))


def plan(event: Event, replay_duration_s: float = 0.0, clip_duration_s: float = 0.0) -> Plan:
    """The totals and uniques one event moves; reach (across live, replay, clips, views) only for people."""
    space, syn = event.space_id, event.synthetic
    if event.kind is Kind.JOIN:
        return join_plan(space, syn)
    reach = () if syn else (reach_hll(space),)
    if event.kind is Kind.REPLAY_PLAY:
        if not replay_qualifies(event.played_s, replay_duration_s):
            return Plan()
        return Plan(
            ((space_subject(space), _metric("replay_plays", syn)),),
            (replay_hll(space, syn), *reach),
            dedupe=f"dd:rec:{space}:{event.viewer}",
        )
    if event.kind is Kind.CLIP_PLAY:
        if event.clip_id is None or not clip_qualifies(event.continuous_s, clip_duration_s):
            return Plan()
        return Plan(
            (
                (clip_subject(event.clip_id), _metric("clip_plays", syn)),
                (space_subject(space), _metric("clip_plays", syn)),
            ),
            (clip_hll(event.clip_id, syn), *reach),
            dedupe=f"dd:clip:{event.clip_id}:{event.viewer}",
        )
    return _impression(event, reach)


def _impression(event: Event, reach: tuple[str, ...]) -> Plan:
    """Every view counts (X-style, not unique); embeds are stored apart and feed nothing else."""
    space, syn, surface = event.space_id, event.synthetic, event.surface
    if surface is Surface.EMBED:
        return Plan(((space_subject(space), _metric("embed_views", syn)),))
    if surface is Surface.CLIP_PAGE and event.clip_id is not None:
        totals = [
            (clip_subject(event.clip_id), _metric("views", syn)),
            (space_subject(space), _metric("clip_views", syn)),
        ]
    elif surface in (Surface.SPACE_PAGE, Surface.SHARE_CARD):
        totals = [(space_subject(space), _metric("post_views", syn))]
        if event.logged_in:
            totals.append((space_subject(space), _metric("post_views_logged_in", syn)))
    else:
        return Plan()
    return Plan(tuple(totals), reach)


COMBINED_VIEWS_LABEL = "views of the space's page and card and of its clips' pages; people counted more than once"


def combined_views(totals: dict[str, int]) -> int:
    """Impressions of the space's page and card plus its clips' pages: never listener figures."""
    return totals.get("post_views", 0) + totals.get("clip_views", 0)


@dataclass(slots=True)
class Batch:
    """One transaction's worth of counting: keys that must be new, increments, unique viewers."""

    claims: dict[str, float] = field(default_factory=dict)  # key -> expires_at; first claim wins
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    uniques: dict[str, set[str]] = field(default_factory=dict)
