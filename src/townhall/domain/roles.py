"""Roles inside a space and the permission matrix: who may do what to whom.

Pure: the matrix is data, `allowed` looks it up; services enforce it, tests cover every cell.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"


VOICES = frozenset({Role.HOST, Role.COHOST, Role.SPEAKER})
MODERATING = frozenset({Role.HOST, Role.COHOST})
MAX_COHOSTS = 2
MAX_SPEAKERS = 10  # besides the host and co-hosts: 13 voices at most


class Action(StrEnum):
    START = "start"
    END = "end"
    PUBLISH = "publish"  # send audio over WHIP
    REQUEST_TO_SPEAK = "request_to_speak"
    INVITE = "invite"  # invite a listener to speak
    ACCEPT_REQUEST = "accept_request"
    DECLINE_REQUEST = "decline_request"
    ACCEPT_INVITE = "accept_invite"
    MAKE_COHOST = "make_cohost"
    MUTE = "mute"
    UNMUTE = "unmute"
    MOVE_TO_LISTENER = "move_to_listener"
    REMOVE = "remove"  # remove from the space and block from rejoining


# Actions that have no target: only the actor's role matters.
UNTARGETED = frozenset({Action.START, Action.END, Action.PUBLISH, Action.REQUEST_TO_SPEAK, Action.ACCEPT_INVITE})

H, C, S, L = Role.HOST, Role.COHOST, Role.SPEAKER, Role.LISTENER

# Untargeted actions: the roles that may take them.
_SELF_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.START: frozenset({H}),
    Action.END: frozenset({H}),
    Action.PUBLISH: frozenset({H, C, S}),
    Action.REQUEST_TO_SPEAK: frozenset({L}),
    Action.ACCEPT_INVITE: frozenset({L}),
}

# Targeted actions on someone else: actor role -> target roles it may act on.
_ON_OTHERS: dict[Action, dict[Role, frozenset[Role]]] = {
    Action.INVITE: {H: frozenset({L}), C: frozenset({L})},
    Action.ACCEPT_REQUEST: {H: frozenset({L}), C: frozenset({L})},
    Action.DECLINE_REQUEST: {H: frozenset({L}), C: frozenset({L})},
    Action.MAKE_COHOST: {H: frozenset({S, L})},
    Action.MUTE: {H: frozenset({C, S}), C: frozenset({H, C, S})},
    Action.UNMUTE: {},  # a speaker may unmute only themself
    Action.MOVE_TO_LISTENER: {H: frozenset({C, S}), C: frozenset({S})},
    Action.REMOVE: {H: frozenset({C, S, L}), C: frozenset({S, L})},
}

# Targeted actions on oneself: the roles that may take them on themselves.
_ON_SELF: dict[Action, frozenset[Role]] = {
    Action.MUTE: frozenset({H, C, S}),
    Action.UNMUTE: frozenset({H, C, S}),
    Action.MOVE_TO_LISTENER: frozenset({C, S}),  # step down; the host ends the space instead
}


def allowed(action: Action, actor: Role, target: Role | None = None, on_self: bool = False) -> bool:
    """Whether `actor` may take `action` (on `target`, or on themself when `on_self`)."""
    if action in UNTARGETED:
        return actor in _SELF_ACTIONS[action]
    if target is None:
        return False
    if on_self:
        return target == actor and actor in _ON_SELF.get(action, frozenset())
    return target in _ON_OTHERS[action].get(actor, frozenset())
