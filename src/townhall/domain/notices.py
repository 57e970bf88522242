"""Notices under the DSA (Art. 16, 22, 23(2)): what a report holds, how complete it is, its priority
in the moderators' queue and its states. Pure: no I/O, no clock; times are passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from townhall.domain.errors import Conflict, Invalid


class TargetKind(StrEnum):
    SPACE_LIVE = "space_live"
    SPACE_REPLAY = "space_replay"
    CLIP = "clip"
    ACCOUNT = "account"


class SourceKind(StrEnum):
    PUBLIC = "public"
    TRUSTED_FLAGGER = "trusted_flagger"


class NoticeState(StrEnum):
    QUEUED = "queued"
    DECIDED = "decided"
    NOT_PROCESSED = "not_processed"  # the notifier's notices are suspended (Art. 23(2))


NOT_SPECIFIED = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"

# Priority (ours, spec §4.1): threat to life first; trusted flaggers (Art. 22) and live spaces next.
PRIORITY_THREAT_TO_LIFE = 100
PRIORITY_LIVE_TRUSTED = 80
PRIORITY_LIVE = 60
PRIORITY_TRUSTED = 50
PRIORITY_RECORDED = 30
PRIORITY_OTHER = 10
PRIORITY_PER_EXTRA_NOTIFIER = 5


@dataclass(frozen=True, slots=True)
class NoticeItem:
    """One exact location (Art. 16(2)(b)): the item and, for audio, the media time range."""

    kind: TargetKind
    target_id: str
    media_start_ms: int | None = None
    media_end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    received_at: float
    source_kind: SourceKind
    items: tuple[NoticeItem, ...]
    category: str
    explanation: str
    is_illegal_content_claim: bool
    bona_fide: bool
    reporter_key: str
    keywords: tuple[str, ...] = ()
    threat_to_life: bool = False
    notifier_account_id: str | None = None
    notifier_name: str | None = None
    notifier_email: str | None = None
    state: NoticeState = NoticeState.QUEUED
    decided_at: float | None = None
    decision_id: str | None = None
    manifestly_unfounded: bool = False

    @property
    def target(self) -> NoticeItem:
        return self.items[0]


@dataclass(frozen=True, slots=True)
class NoticeLimits:
    items_max: int = 50
    explanation_max: int = 5000


def check_items(items: Iterable[NoticeItem], limits: NoticeLimits) -> tuple[NoticeItem, ...]:
    found = tuple(items)
    if not found:
        raise Invalid("notice_without_location", "name at least one item: a space, replay, clip or account")
    if len(found) > limits.items_max:
        raise Invalid("too_many_items", f"one notice may name at most {limits.items_max} items")
    for item in found:
        start, end = item.media_start_ms, item.media_end_ms
        if (start is not None and start < 0) or (end is not None and end < 0):
            raise Invalid("invalid_media_range", "media times are milliseconds from the start, not negative")
        if start is not None and end is not None and end < start:
            raise Invalid("invalid_media_range", "the media range ends before it starts")
    return found


def check_notice(notice: Notice, categories: Collection[str], keywords: Collection[str], limits: NoticeLimits) -> None:
    """Raise unless the notice has what Art. 16(2) asks for; notifier identity is never required."""
    explanation = notice.explanation.strip()
    if not explanation:
        raise Invalid("explanation_required", "explain why you consider this content illegal or against the terms")
    if len(explanation) > limits.explanation_max:
        raise Invalid("explanation_too_long", f"the explanation may have at most {limits.explanation_max} characters")
    check_items(notice.items, limits)
    if notice.category not in categories:
        raise Invalid("invalid_category", "category must be one of the Transparency Database categories")
    unknown = [k for k in notice.keywords if k not in keywords]
    if unknown:
        raise Invalid("invalid_keyword", f"unknown keyword {unknown[0]}")
    if notice.is_illegal_content_claim and not notice.bona_fide:
        raise Invalid(
            "bona_fide_required", "confirm that you believe in good faith the notice is accurate and complete"
        )


def priority(notice: Notice, live: bool, extra_notifiers: int = 0) -> int:
    """Queue priority: trusted flaggers first (Art. 22), live spaces before replays."""
    trusted = notice.source_kind is SourceKind.TRUSTED_FLAGGER
    if notice.threat_to_life:
        base = PRIORITY_THREAT_TO_LIFE
    elif live and trusted:
        base = PRIORITY_LIVE_TRUSTED
    elif live:
        base = PRIORITY_LIVE
    elif trusted:
        base = PRIORITY_TRUSTED
    elif notice.target.kind in (TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY, TargetKind.CLIP):
        base = PRIORITY_RECORDED
    else:
        base = PRIORITY_OTHER
    return base + PRIORITY_PER_EXTRA_NOTIFIER * max(0, extra_notifiers)


def queue_order(notices: Iterable[Notice], live_space_ids: Collection[str]) -> list[tuple[int, Notice]]:
    """Queued notices, most urgent first; ties go to the oldest. A notice counts as live while the
    space it names is live now, whatever it was when reported."""
    queued = [n for n in notices if n.state is NoticeState.QUEUED]
    notifiers: dict[str, set[str]] = {}
    for n in queued:
        notifiers.setdefault(n.target.target_id, set()).add(n.reporter_key)
    ranked = [
        (priority(n, n.target.target_id in live_space_ids, len(notifiers[n.target.target_id]) - 1), n) for n in queued
    ]
    ranked.sort(key=lambda pair: (-pair[0], pair[1].received_at, pair[1].id))
    return ranked


def decide(notice: Notice, decision_id: str, now: float, manifestly_unfounded: bool = False) -> Notice:
    if notice.state is not NoticeState.QUEUED:
        raise Conflict("notice_not_queued", f"notice {notice.id} is {notice.state.value}, not waiting for a decision")
    return replace(
        notice,
        state=NoticeState.DECIDED,
        decided_at=now,
        decision_id=decision_id,
        manifestly_unfounded=manifestly_unfounded,
    )
