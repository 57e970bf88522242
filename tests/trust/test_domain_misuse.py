"""Art. 23 rules: a warning first, then a suspension for a period, longer the next time; counted in a
window; for notifiers, only when the share of unfounded notices is high enough."""

from __future__ import annotations

from townhall.domain.misuse import Measure, MisuseAction, MisusePolicy, assess, suspended_until

DAY = 86400.0
POLICY = MisusePolicy(window_s=90 * DAY, strikes_to_warn=3, suspend_s=7 * DAY, repeat_suspend_s=30 * DAY)


def test_below_the_threshold_nothing_happens() -> None:
    assert assess([1.0, 2.0], [], 3.0, POLICY).action is MisuseAction.NONE


def test_the_threshold_earns_a_warning_not_a_suspension() -> None:
    verdict = assess([1.0, 2.0, 3.0], [], 3.0, POLICY)
    assert verdict.action is MisuseAction.WARN and verdict.strikes == 3 and verdict.until is None


def test_a_strike_after_the_warning_suspends_for_the_first_period() -> None:
    warned = [Measure(MisuseAction.WARN, at=3.0)]
    verdict = assess([1.0, 2.0, 3.0, 10.0], warned, 10.0, POLICY)
    assert verdict.action is MisuseAction.SUSPEND and verdict.until == 10.0 + 7 * DAY
    # the strike that earned the warning does not suspend by itself
    assert assess([1.0, 2.0, 3.0], warned, 3.0, POLICY).action is MisuseAction.NONE


def test_while_suspended_nothing_more_and_after_return_the_next_strike_suspends_longer() -> None:
    history = [Measure(MisuseAction.WARN, 3.0), Measure(MisuseAction.SUSPEND, 10.0, 10.0 + 7 * DAY)]
    assert assess([1, 2, 3, 10, 11], history, 11.0, POLICY).action is MisuseAction.NONE
    back = 10.0 + 7 * DAY
    assert assess([1, 2, 3, 10], history, back + 5, POLICY).action is MisuseAction.NONE  # no new strike
    verdict = assess([1, 2, 3, 10, back + 5], history, back + 5, POLICY)
    assert verdict.action is MisuseAction.SUSPEND and verdict.until == back + 5 + 30 * DAY


def test_strikes_and_warnings_outside_the_window_no_longer_count() -> None:
    old = [1.0, 2.0, 3.0]
    now = 3.0 + 91 * DAY
    assert assess(old, [], now, POLICY).action is MisuseAction.NONE
    stale_warning = [Measure(MisuseAction.WARN, 3.0)]
    # a new strike long after an expired warning starts again from a clean record
    assert assess([*old, now], stale_warning, now, POLICY).action is MisuseAction.NONE


def test_notifiers_need_a_high_share_of_unfounded_notices() -> None:
    strikes = [1.0, 2.0, 3.0]
    assert assess(strikes, [], 3.0, POLICY, share=0.2).action is MisuseAction.NONE
    assert assess(strikes, [], 3.0, POLICY, share=0.75).action is MisuseAction.WARN


def test_suspended_until_reports_the_suspension_in_force() -> None:
    history = [Measure(MisuseAction.WARN, 1.0), Measure(MisuseAction.SUSPEND, 5.0, 50.0)]
    assert suspended_until(history, 10.0) == 50.0
    assert suspended_until(history, 60.0) is None
    assert suspended_until([Measure(MisuseAction.SUSPEND, 5.0, None)], 1e12) == float("inf")
