"""The room mixer: one 20 ms frame per voice per tick, summed once, with each voice's mix-minus.

Pure numpy, no I/O and no clock: the caller ticks it. A voice with no frame this tick is silence,
never a wait; a muted voice's audio is dropped on arrival and never reaches any mix.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

RATE = 48_000
FRAME = 960  # samples per 20 ms tick, mono
FULL_SCALE = 32768.0

Samples = npt.NDArray[np.int16]
Heard = frozenset[str]  # the voices a mix is made of

SILENCE: Samples = np.zeros(FRAME, dtype=np.int16)
SILENCE.flags.writeable = False
ZEROS = np.zeros(FRAME, dtype=np.int32)
ZEROS.flags.writeable = False


def level_dbfs(samples: Samples) -> float:
    """RMS level of a frame in dB below full scale (-120 for digital silence)."""
    as_float = samples.astype(np.float32)
    power = float(np.dot(as_float, as_float)) / max(1, samples.size)
    return 10.0 * math.log10(power / (FULL_SCALE * FULL_SCALE)) if power > 0 else -120.0


@dataclass(frozen=True, slots=True)
class MixerSettings:
    gate_dbfs: float = -55.0  # below this a voice adds nothing to any mix (its noise floor stays out)
    gate_hold_ticks: int = 25  # keep a voice in the mix this long after it falls under the gate
    squelch_dbfs: float = -70.0  # a frame quieter than this is mixed as digital silence
    speaking_dbfs: float = -42.0  # smoothed level over which a voice counts as speaking
    speaking_hold_ticks: int = 25
    max_queue: int = 10  # frames buffered per voice (a 200 ms burst) before the oldest is dropped
    prefetch: int = 2  # frames a voice must have queued before it plays again after running dry
    drain_ticks: int = 10  # a queue longer than `prefetch` this long loses a frame (latency returns)


@dataclass(slots=True)
class Voice:
    muted: bool = False
    queue: deque[tuple[Samples, float]] = field(default_factory=deque)  # frame, caller's arrival stamp
    gate_left: int = 0  # ticks this voice stays in the mix without new loud audio
    smoothed_dbfs: float = -120.0
    speaking_left: int = 0
    playing: bool = False  # False until `prefetch` frames are queued: a cushion against arrival jitter
    long_for: int = 0  # ticks the queue has stayed longer than the cushion
    resting: bool = False  # its sender is in Opus DTX (silent on purpose): a gap is not an underrun


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick produced."""

    programme: Samples  # the full mix: every contributing voice
    heard_by: dict[str, Heard]  # per voice: whom their mix-minus is made of
    mixes: dict[Heard, Samples]  # one mix per distinct set of voices heard (the programme among them)
    contributors: Heard
    underruns: int  # voices that were playing but had no frame for this tick
    stamps: dict[str, float]  # per contributor: when the frame mixed this tick arrived


class Mixer:
    def __init__(self, settings: MixerSettings | None = None) -> None:
        self.settings = settings or MixerSettings()
        self.voices: dict[str, Voice] = {}

    def add(self, voice_id: str, muted: bool = False) -> None:
        self.voices[voice_id] = Voice(muted=muted)

    def remove(self, voice_id: str) -> None:
        self.voices.pop(voice_id, None)

    def set_muted(self, voice_id: str, muted: bool) -> None:
        voice = self.voices.get(voice_id)
        if voice is None:
            return
        voice.muted = muted
        if muted:
            voice.queue.clear()
            voice.gate_left = voice.speaking_left = 0
            voice.smoothed_dbfs = -120.0

    def rest(self, voice_id: str, resting: bool) -> None:
        """The sender signalled DTX (it will send nothing while silent) or resumed."""
        voice = self.voices.get(voice_id)
        if voice is not None:
            voice.resting = resting

    def push(self, voice_id: str, samples: Samples, stamp: float = 0.0) -> None:
        """A decoded 20 ms frame arrived (at `stamp`, the caller's clock); a muted or unknown voice's
        audio is dropped here."""
        voice = self.voices.get(voice_id)
        if voice is None or voice.muted or samples.shape != (FRAME,):
            return
        voice.queue.append((samples, stamp))
        while len(voice.queue) > self.settings.max_queue:
            voice.queue.popleft()

    def speaking(self) -> list[str]:
        return sorted(v for v, voice in self.voices.items() if voice.speaking_left > 0 and not voice.muted)

    def tick(self) -> Tick:
        s = self.settings
        frames: dict[str, npt.NDArray[np.int32]] = {}
        stamps: dict[str, float] = {}
        underruns = 0
        for voice_id, voice in self.voices.items():
            if voice.muted:
                continue
            if voice.playing and not voice.queue:
                voice.playing = False
                underruns += not voice.resting
            if not voice.playing and len(voice.queue) >= s.prefetch:
                voice.playing = True
            if not voice.playing:
                self._track_level(voice, -120.0)
                continue
            samples, stamp = voice.queue.popleft()
            self._drain(voice)
            level = level_dbfs(samples)
            self._track_level(voice, level)
            if level >= s.gate_dbfs:
                voice.gate_left = s.gate_hold_ticks
            elif voice.gate_left > 0:
                voice.gate_left -= 1
            if voice.gate_left > 0:
                # a frame under the squelch (a decoder's fading tail) is mixed as exact zeros: inaudible,
                # and it keeps the AAC encoder on its fast path (near-silence costs it three times more)
                frames[voice_id] = samples.astype(np.int32) if level >= s.squelch_dbfs else ZEROS
                stamps[voice_id] = stamp
        contributors: Heard = frozenset(frames)
        total = sum(frames.values(), ZEROS)
        programme = _clip(total) if len(frames) > 1 else total.astype(np.int16)  # one voice cannot clip
        mixes: dict[Heard, Samples] = {contributors: programme, frozenset(): SILENCE}
        heard_by: dict[str, Heard] = {}
        for voice_id in self.voices:
            heard = contributors - {voice_id}
            heard_by[voice_id] = heard
            if heard not in mixes:
                mixes[heard] = _clip(total - frames[voice_id])
        return Tick(programme, heard_by, mixes, contributors, underruns, stamps)

    def _drain(self, voice: Voice) -> None:
        # after a burst (a stalled sender or network) play the backlog, then shed it a frame at a time
        voice.long_for = voice.long_for + 1 if len(voice.queue) >= self.settings.prefetch else 0
        if voice.long_for >= self.settings.drain_ticks:
            voice.queue.popleft()
            voice.long_for = 0

    def _track_level(self, voice: Voice, level: float) -> None:
        # one-pole smoothing over about 100 ms, then a hold so the indicator does not flicker
        voice.smoothed_dbfs += 0.2 * (level - voice.smoothed_dbfs)
        if voice.smoothed_dbfs >= self.settings.speaking_dbfs:
            voice.speaking_left = self.settings.speaking_hold_ticks
        elif voice.speaking_left > 0:
            voice.speaking_left -= 1


def _clip(total: npt.NDArray[np.int32]) -> Samples:
    return np.clip(total, -32768, 32767).astype(np.int16)
