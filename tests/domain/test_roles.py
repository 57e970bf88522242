"""The permission matrix, cell by cell: every action, actor role, target role and self/other."""

from __future__ import annotations

import itertools

import pytest

from townhall.domain.roles import UNTARGETED, Action, Role, allowed

H, C, S, L = Role.HOST, Role.COHOST, Role.SPEAKER, Role.LISTENER

# Written out by hand from the product rules, independently of the module's tables.
UNTARGETED_ALLOWED = {
    (Action.START, H),
    (Action.END, H),
    (Action.PUBLISH, H),
    (Action.PUBLISH, C),
    (Action.PUBLISH, S),
    (Action.REQUEST_TO_SPEAK, L),
    (Action.ACCEPT_INVITE, L),
}
ON_OTHERS_ALLOWED = {
    (Action.INVITE, H, L),
    (Action.INVITE, C, L),
    (Action.ACCEPT_REQUEST, H, L),
    (Action.ACCEPT_REQUEST, C, L),
    (Action.DECLINE_REQUEST, H, L),
    (Action.DECLINE_REQUEST, C, L),
    (Action.MAKE_COHOST, H, S),
    (Action.MAKE_COHOST, H, L),
    (Action.MUTE, H, C),
    (Action.MUTE, H, S),
    (Action.MUTE, C, H),
    (Action.MUTE, C, C),
    (Action.MUTE, C, S),
    (Action.MOVE_TO_LISTENER, H, C),
    (Action.MOVE_TO_LISTENER, H, S),
    (Action.MOVE_TO_LISTENER, C, S),
    (Action.REMOVE, H, C),
    (Action.REMOVE, H, S),
    (Action.REMOVE, H, L),
    (Action.REMOVE, C, S),
    (Action.REMOVE, C, L),
}
ON_SELF_ALLOWED = {
    (Action.MUTE, H),
    (Action.MUTE, C),
    (Action.MUTE, S),
    (Action.UNMUTE, H),
    (Action.UNMUTE, C),
    (Action.UNMUTE, S),
    (Action.MOVE_TO_LISTENER, C),
    (Action.MOVE_TO_LISTENER, S),
}
TARGETED = [a for a in Action if a not in UNTARGETED]


@pytest.mark.parametrize(("action", "actor"), list(itertools.product(sorted(UNTARGETED), list(Role))))
def test_untargeted_cell(action: Action, actor: Role) -> None:
    assert allowed(action, actor) == ((action, actor) in UNTARGETED_ALLOWED)


@pytest.mark.parametrize(("action", "actor", "target"), list(itertools.product(TARGETED, list(Role), list(Role))))
def test_cell_on_someone_else(action: Action, actor: Role, target: Role) -> None:
    assert allowed(action, actor, target, on_self=False) == ((action, actor, target) in ON_OTHERS_ALLOWED)


@pytest.mark.parametrize(("action", "actor"), list(itertools.product(TARGETED, list(Role))))
def test_cell_on_oneself(action: Action, actor: Role) -> None:
    assert allowed(action, actor, actor, on_self=True) == ((action, actor) in ON_SELF_ALLOWED)


def test_listener_can_never_grant_itself_a_voice() -> None:
    for action in (Action.PUBLISH, Action.MAKE_COHOST, Action.ACCEPT_REQUEST, Action.INVITE):
        assert not allowed(action, L, L, on_self=True)
        assert not allowed(action, L, L)
    assert not allowed(Action.PUBLISH, L)


def test_nobody_unmutes_someone_else() -> None:
    for actor, target in itertools.product(list(Role), list(Role)):
        assert not allowed(Action.UNMUTE, actor, target, on_self=False)


def test_targeted_action_without_target_is_refused() -> None:
    assert not allowed(Action.MUTE, H, None)
