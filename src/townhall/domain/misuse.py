"""Misuse (DSA Art. 23): accounts that repeatedly provide manifestly illegal content and notifiers
that repeatedly send manifestly unfounded notices are warned, then suspended for a period.
Pure: the caller passes the strikes, the earlier warnings and suspensions, and the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class StrikeKind(StrEnum):
    MANIFESTLY_ILLEGAL_CONTENT = "manifestly_illegal_content"
    MANIFESTLY_UNFOUNDED_NOTICE = "manifestly_unfounded_notice"
    MANIFESTLY_UNFOUNDED_COMPLAINT = "manifestly_unfounded_complaint"


class MisuseAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    SUSPEND = "suspend"


@dataclass(frozen=True, slots=True)
class MisusePolicy:
    window_s: float = 90 * 86400.0
    strikes_to_warn: int = 3
    suspend_s: float = 7 * 86400.0
    repeat_suspend_s: float = 30 * 86400.0
    notifier_min_share: float = 0.5  # Art. 23(3)(b): the proportion, not only the count


@dataclass(frozen=True, slots=True)
class Measure:
    """A warning or suspension already imposed on the subject."""

    action: MisuseAction
    at: float
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    action: MisuseAction
    until: float | None = None
    strikes: int = 0


NONE = Verdict(MisuseAction.NONE)


def _caution(history: Iterable[Measure], since: float) -> float | None:
    """When the subject was last cautioned (warned, or back from a suspension) within the window."""
    times = [m.at if m.action is MisuseAction.WARN else (m.until or m.at) for m in history]
    recent = [t for t in times if t > since]
    return max(recent) if recent else None


def assess(
    strike_times: Iterable[float],
    history: Iterable[Measure],
    now: float,
    policy: MisusePolicy,
    share: float | None = None,
) -> Verdict:
    """What to do now. A warning comes first (prior warning, Art. 23(1)-(2)); a strike after the
    warning, or after coming back from a suspension, suspends; a later suspension lasts longer.
    `share` is the fraction of a notifier's notices that were manifestly unfounded (None for accounts)."""
    measures = list(history)
    if any(m.action is MisuseAction.SUSPEND and (m.until is None or m.until > now) for m in measures):
        return NONE  # already suspended
    since = now - policy.window_s
    recent = sorted(t for t in strike_times if since < t <= now)
    cautioned = _caution(measures, since)
    if cautioned is None:
        enough = len(recent) >= policy.strikes_to_warn
        if enough and (share is None or share >= policy.notifier_min_share):
            return Verdict(MisuseAction.WARN, strikes=len(recent))
        return Verdict(MisuseAction.NONE, strikes=len(recent))
    after = [t for t in recent if t > cautioned]
    if not after:
        return Verdict(MisuseAction.NONE, strikes=len(recent))
    repeat = any(m.action is MisuseAction.SUSPEND for m in measures)
    period = policy.repeat_suspend_s if repeat else policy.suspend_s
    return Verdict(MisuseAction.SUSPEND, until=now + period, strikes=len(recent))


def suspended_until(history: Iterable[Measure], now: float) -> float | None:
    """End of the suspension in force now, or None when there is none (indefinite is +inf)."""
    ends = [
        float("inf") if m.until is None else m.until
        for m in history
        if m.action is MisuseAction.SUSPEND and (m.until is None or m.until > now)
    ]
    return max(ends) if ends else None
