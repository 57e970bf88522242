"""Placement: a new or orphaned space goes to the least-loaded node that is not draining."""

from __future__ import annotations

from townhall.domain.placement import Handoff, Member, chosen


def _member(node_id: str, load: int, draining: bool = False) -> Member:
    return Member(node_id, f"http://{node_id}", load, draining)


def test_the_least_loaded_node_ties_broken_by_id() -> None:
    assert chosen([_member("b", 1), _member("a", 1), _member("c", 2)]) == _member("a", 1)
    assert chosen([_member("b", 0), _member("a", 1)]) == _member("b", 0)


def test_a_draining_node_is_never_chosen_however_idle() -> None:
    assert chosen([_member("idle", 0, draining=True), _member("busy", 9)]) == _member("busy", 9)
    assert chosen([_member("a", 0, draining=True), _member("b", 3, draining=True)]) is None
    assert chosen([]) is None


def test_a_handoff_round_trips_and_refuses_malformed_messages() -> None:
    cut = Handoff(12, 12 * 9 * 10240, 1_796_400_000.25, 2)
    assert Handoff.from_dict({**cut.to_dict(), "event": "prepare"}) == cut
    assert Handoff.from_dict({"msn": 1, "media_time": 0, "at": 1.0}) is None  # no ds
    assert Handoff.from_dict({"msn": "1", "media_time": 0, "at": 1.0, "ds": 1}) is None
    assert Handoff.from_dict({"msn": 1, "media_time": 0, "at": True, "ds": 1}) is None
