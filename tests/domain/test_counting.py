"""Counting rules: viewer keys, play qualification, which totals and uniques an event moves."""

from __future__ import annotations

from townhall.domain import counting as c

K = b"k" * 32


def test_viewer_key_prefers_account_then_device_then_address_and_agent() -> None:
    a = c.viewer_key(K, account_id="acc1", device_id="dev12345", address="1.2.3.4", user_agent="x")
    assert a == c.viewer_key(K, account_id="acc1")
    assert c.viewer_key(K, device_id="dev12345") != a
    assert c.viewer_key(K, address="1.2.3.4", user_agent="x") != c.viewer_key(K, address="1.2.3.4", user_agent="y")


def test_ipv6_addresses_are_truncated_to_64_bits() -> None:
    one = c.viewer_key(K, address="2001:db8:1:2:aaaa::1", user_agent="ua")
    assert one == c.viewer_key(K, address="2001:db8:1:2:bbbb::9", user_agent="ua")
    assert one != c.viewer_key(K, address="2001:db8:1:3::1", user_agent="ua")


def test_viewer_keys_hold_no_identifier() -> None:
    assert "acc1" not in c.viewer_key(K, account_id="acc1")


def test_replay_play_counts_after_sixty_seconds_or_the_whole_short_replay() -> None:
    assert not c.replay_qualifies(59.9, 3600)
    assert c.replay_qualifies(60, 3600)
    assert c.replay_qualifies(29.5, 30)
    assert not c.replay_qualifies(20, 30)


def test_clip_play_counts_after_two_continuous_seconds() -> None:
    assert not c.clip_qualifies(1.9, 30)
    assert c.clip_qualifies(2.0, 30)
    assert c.clip_qualifies(1.0, 1.0)


def test_bots_are_recognised_by_user_agent() -> None:
    assert c.is_bot("Googlebot/2.1")
    assert c.is_bot("")
    assert not c.is_bot("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")


def test_join_moves_joins_live_uniques_and_reach() -> None:
    p = c.plan(c.Event(c.Kind.JOIN, "sp1", "v"))
    assert p.totals == (("space:sp1", "joins"),)
    assert p.uniques == ("hll:space:sp1:live", "hll:space:sp1:reach")
    assert p.dedupe is None


def test_synthetic_events_are_counted_apart_and_never_reach_people() -> None:
    p = c.plan(c.Event(c.Kind.JOIN, "sp1", "v", synthetic=True))
    assert p.totals == (("space:sp1", "joins_synthetic"),)
    assert p.uniques == ("hll:space:sp1:live:synthetic",)


def test_replay_play_is_deduplicated_per_viewer_and_replay() -> None:
    p = c.plan(c.Event(c.Kind.REPLAY_PLAY, "sp1", "v", played_s=61), replay_duration_s=600)
    assert p.dedupe == "dd:rec:sp1:v"
    assert p.totals == (("space:sp1", "replay_plays"),)
    assert not c.plan(c.Event(c.Kind.REPLAY_PLAY, "sp1", "v", played_s=10), replay_duration_s=600).counts


def test_views_are_never_unique_and_never_mixed_with_listens() -> None:
    page = c.plan(c.Event(c.Kind.IMPRESSION, "sp1", "v", surface=c.Surface.SPACE_PAGE, logged_in=True))
    assert page.dedupe is None
    assert page.totals == (("space:sp1", "post_views"), ("space:sp1", "post_views_logged_in"))
    clip = c.plan(c.Event(c.Kind.IMPRESSION, "sp1", "v", clip_id="cl1", surface=c.Surface.CLIP_PAGE))
    assert clip.totals == (("clip:cl1", "views"), ("space:sp1", "clip_views"))
    embed = c.plan(c.Event(c.Kind.IMPRESSION, "sp1", "v", surface=c.Surface.EMBED))
    assert embed.totals == (("space:sp1", "embed_views"),) and embed.uniques == ()
    totals = {"post_views": 5, "clip_views": 2, "joins": 100, "replay_plays": 7, "embed_views": 3}
    assert c.combined_views(totals) == 7


def test_clip_play_counts_for_the_clip_and_its_space() -> None:
    p = c.plan(c.Event(c.Kind.CLIP_PLAY, "sp1", "v", clip_id="cl1", continuous_s=3), clip_duration_s=30)
    assert p.totals == (("clip:cl1", "clip_plays"), ("space:sp1", "clip_plays"))
    assert p.dedupe == "dd:clip:cl1:v"
