"""Notice rules: what a notice needs (Art. 16(2)) and the queue's priority order (Art. 22, live first)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from townhall.domain.errors import Conflict, Invalid
from townhall.domain.notices import (
    Notice,
    NoticeItem,
    NoticeLimits,
    NoticeState,
    SourceKind,
    TargetKind,
    check_notice,
    decide,
    priority,
    queue_order,
)

CATS = {"STATEMENT_CATEGORY_VIOLENCE", "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"}


def make(
    nid: str,
    target: str = "space1",
    kind: TargetKind = TargetKind.SPACE_LIVE,
    source: SourceKind = SourceKind.PUBLIC,
    at: float = 100.0,
    reporter: str = "r1",
    **extra: object,
) -> Notice:
    notice = Notice(
        id=nid,
        received_at=at,
        source_kind=source,
        items=(NoticeItem(kind, target, 1000, 2000),),
        category="STATEMENT_CATEGORY_VIOLENCE",
        explanation="threat at 00:01",
        is_illegal_content_claim=True,
        bona_fide=True,
        reporter_key=reporter,
    )
    return replace(notice, **extra)  # type: ignore[arg-type]


def test_trusted_flaggers_come_before_the_public_and_live_spaces_before_replays() -> None:
    public_replay = make("a", "old", TargetKind.SPACE_REPLAY, at=1)
    public_live = make("b", "live", at=2)
    trusted_replay = make("c", "old2", TargetKind.SPACE_REPLAY, SourceKind.TRUSTED_FLAGGER, at=3)
    trusted_live = make("d", "live2", source=SourceKind.TRUSTED_FLAGGER, at=4)
    account = make("e", "acct", TargetKind.ACCOUNT, at=0)
    ranked = queue_order([public_replay, public_live, trusted_replay, trusted_live, account], {"live", "live2"})
    assert [n.id for _, n in ranked] == ["d", "b", "c", "a", "e"]


def test_threat_to_life_goes_first_whatever_else() -> None:
    urgent = make("z", "old", TargetKind.SPACE_REPLAY, at=99, threat_to_life=True)
    trusted_live = make("d", source=SourceKind.TRUSTED_FLAGGER, at=1)
    assert [n.id for _, n in queue_order([trusted_live, urgent], {"space1"})] == ["z", "d"]


def test_a_space_that_ended_drops_to_replay_priority_and_ties_go_to_the_oldest() -> None:
    reported_live = make("a", "s", at=5)
    assert priority(reported_live, live=False) < priority(reported_live, live=True)
    older, newer = make("o", "x", at=1, reporter="r1"), make("n", "y", at=2, reporter="r2")
    assert [n.id for _, n in queue_order([newer, older], set())] == ["o", "n"]


def test_more_distinct_notifiers_on_one_item_raise_its_priority() -> None:
    crowd = [make(f"c{i}", "busy", reporter=f"r{i}", at=10 + i) for i in range(3)]
    single = make("s", "quiet", at=1)
    ranked = queue_order([single, *crowd], {"busy", "quiet"})
    assert ranked[0][1].target.target_id == "busy" and ranked[-1][1].id == "s"
    assert ranked[0][0] == ranked[-1][0] + 10


def test_only_queued_notices_are_in_the_queue() -> None:
    done = decide(make("a"), "dec1", 200.0)
    assert done.state is NoticeState.DECIDED and queue_order([done], {"space1"}) == []
    with pytest.raises(Conflict):
        decide(done, "dec2", 300.0)


def test_a_notice_needs_explanation_location_good_faith_and_a_known_category() -> None:
    limits = NoticeLimits(items_max=2, explanation_max=50)
    check_notice(make("ok"), CATS, set(), limits)
    cases = {
        "explanation_required": make("a", explanation="  "),
        "explanation_too_long": make("a", explanation="x" * 51),
        "bona_fide_required": make("a", bona_fide=False),
        "notice_without_location": make("a", items=()),
        "too_many_items": make("a", items=(NoticeItem(TargetKind.CLIP, "c"),) * 3),
        "invalid_media_range": make("a", items=(NoticeItem(TargetKind.CLIP, "c", 10, 5),)),
        "invalid_category": make("a", category="STATEMENT_CATEGORY_MADE_UP"),
        "invalid_keyword": make("a", keywords=("KEYWORD_NOPE",)),
    }
    for code, notice in cases.items():
        with pytest.raises(Invalid) as caught:
            check_notice(notice, CATS, set(), limits)
        assert caught.value.code == code
    terms_only = make("t", bona_fide=False, is_illegal_content_claim=False)
    check_notice(terms_only, CATS, set(), limits)  # good faith is asked only for illegality claims
