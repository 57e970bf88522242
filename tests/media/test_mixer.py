"""The mixer: sum once, mix-minus per voice, mute enforced, a missing frame is silence, shared mixes."""

from __future__ import annotations

import numpy as np

from townhall.media.mixer import FRAME, Mixer, MixerSettings, level_dbfs

EAGER = MixerSettings(prefetch=1)  # play a frame as soon as it arrives: the arithmetic, without the cushion


def tone(amplitude: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(FRAME) / 48_000
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16)


def test_each_voice_hears_everyone_but_itself() -> None:
    mixer = Mixer(EAGER)
    for v in ("a", "b", "c"):
        mixer.add(v)
    a, b, c = tone(1000, 300), tone(2000, 500), tone(3000, 700)
    mixer.push("a", a)
    mixer.push("b", b)
    mixer.push("c", c)
    tick = mixer.tick()
    total = a.astype(np.int32) + b + c
    assert np.array_equal(tick.programme, total.astype(np.int16))
    assert tick.heard_by["a"] == {"b", "c"}
    assert np.array_equal(tick.mixes[tick.heard_by["a"]], (b.astype(np.int32) + c).astype(np.int16))
    assert np.array_equal(tick.mixes[tick.heard_by["c"]], (a.astype(np.int32) + b).astype(np.int16))


def test_a_muted_voice_reaches_no_mix_at_all() -> None:
    mixer = Mixer(EAGER)
    mixer.add("a", muted=True)
    mixer.add("b")
    mixer.push("a", tone(5000))
    mixer.push("b", tone(1000, 600))
    tick = mixer.tick()
    assert "a" not in tick.contributors
    assert all("a" not in heard for heard in tick.mixes)
    assert np.array_equal(tick.programme, tone(1000, 600))
    mixer.set_muted("b", True)
    mixer.push("b", tone(1000, 600))
    assert not mixer.tick().programme.any()


def test_a_missing_frame_is_silence_and_counts_as_an_underrun() -> None:
    mixer = Mixer(EAGER)
    mixer.add("a")
    mixer.add("b")
    mixer.push("a", tone(1000))
    mixer.push("b", tone(1000))
    mixer.tick()
    mixer.push("b", tone(1000, 880))
    tick = mixer.tick()  # "a" sent nothing for this tick
    assert tick.underruns == 1
    assert "a" not in tick.contributors or not tick.mixes[tick.heard_by["b"]].any()
    empty = Mixer(EAGER)
    assert not empty.tick().programme.any()  # no voices at all: the programme still runs, silent


def test_silent_voices_share_the_full_mix_so_cost_follows_talkers() -> None:
    mixer = Mixer(EAGER)
    voices = [f"v{i}" for i in range(13)]
    for v in voices:
        mixer.add(v)
    for _ in range(30):  # two talk, eleven are quiet (a noise floor under the gate)
        for v in voices:
            mixer.push(v, tone(3000) if v in ("v0", "v1") else tone(3))
        tick = mixer.tick()
    assert tick.contributors == {"v0", "v1"}
    assert len(set(tick.heard_by.values())) == 3  # the full mix (shared by eleven), one mix-minus per talker
    assert {tick.heard_by[v] for v in voices[2:]} == {tick.contributors}


def test_the_gate_holds_a_voice_through_short_pauses() -> None:
    mixer = Mixer(MixerSettings(gate_hold_ticks=5, prefetch=1))
    mixer.add("a")
    mixer.push("a", tone(3000))
    assert mixer.tick().contributors == {"a"}
    for _ in range(4):
        mixer.push("a", tone(1))
        assert mixer.tick().contributors == {"a"}
    mixer.push("a", tone(1))
    assert mixer.tick().contributors == frozenset()


def test_speaking_follows_smoothed_level_and_mute() -> None:
    mixer = Mixer(EAGER)
    mixer.add("a")
    mixer.add("b")
    for _ in range(10):
        mixer.push("a", tone(8000))
        mixer.push("b", tone(5))
        mixer.tick()
    assert mixer.speaking() == ["a"]
    mixer.set_muted("a", True)
    assert mixer.speaking() == []


def test_a_late_voice_never_builds_latency_past_the_queue_bound() -> None:
    mixer = Mixer(MixerSettings(max_queue=3, prefetch=1))
    mixer.add("a")
    for i in range(10):
        mixer.push("a", tone(100 * (i + 1)))
    assert len(mixer.voices["a"].queue) == 3
    assert level_dbfs(np.zeros(FRAME, dtype=np.int16)) == -120.0


def test_a_two_frame_cushion_absorbs_arrival_jitter_without_gaps() -> None:
    mixer = Mixer(MixerSettings(prefetch=2, gate_hold_ticks=1))
    mixer.add("a")
    mixer.push("a", tone(3000))
    assert mixer.tick().contributors == frozenset()  # waits for a second frame
    mixer.push("a", tone(3000))
    heard = []
    for i in range(20):  # packets now arrive in pairs every other tick: jitter of one frame
        if i % 2:
            mixer.push("a", tone(3000))
            mixer.push("a", tone(3000))
        tick = mixer.tick()
        heard.append("a" in tick.contributors)
        assert tick.underruns == 0
    assert all(heard)


def test_a_burst_is_played_not_dropped_and_the_backlog_then_drains() -> None:
    mixer = Mixer(MixerSettings(prefetch=2, max_queue=10, drain_ticks=5, gate_hold_ticks=1))
    mixer.add("a")
    for _ in range(6):  # a 120 ms burst after a stall
        mixer.push("a", tone(3000))
    played = 0
    for _ in range(12):  # then one frame per tick, as normal
        mixer.push("a", tone(3000))
        played += "a" in mixer.tick().contributors
    assert played == 12  # nothing was lost to silence
    assert len(mixer.voices["a"].queue) <= 4  # and the backlog is shrinking back to the cushion


def test_a_sender_in_dtx_is_silent_without_counting_underruns() -> None:
    mixer = Mixer(EAGER)
    mixer.add("a")
    mixer.push("a", tone(3000))
    mixer.tick()
    mixer.rest("a", True)  # a DTX frame arrived: nothing more until the speaker talks again
    assert [mixer.tick().underruns for _ in range(5)] == [0] * 5
    mixer.rest("a", False)
    mixer.push("a", tone(3000))
    mixer.tick()
    assert mixer.tick().underruns == 1  # a real gap counts again


def test_a_fading_tail_under_the_squelch_is_mixed_as_digital_silence() -> None:
    mixer = Mixer(MixerSettings(prefetch=1, gate_hold_ticks=5))
    mixer.add("a")
    mixer.push("a", tone(3000))
    mixer.tick()
    mixer.push("a", tone(2))  # -80 dBFS: still inside the gate's hold, but below the squelch
    tick = mixer.tick()
    assert tick.contributors == {"a"} and not tick.programme.any()
