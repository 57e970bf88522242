"""One live space on the media node: its publishers, its mixer, the mix-minus each speaker hears, its programme.

Cost grows with talkers, not seats: each talker's mix-minus has its own Opus encoder, every silent
speaker hears the full mix from one shared encoder, and in a two-speaker room each speaker's mix-minus
is the other's own packets, forwarded untouched. Never lets a muted voice into any mix or forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from townhall.media.encoder import OpusEncoder
from townhall.media.ingest import DTX_PAYLOAD, Publisher
from townhall.media.metrics import MediaMetrics
from townhall.media.mixer import Mixer, MixerSettings, Samples
from townhall.media.programme import Programme

ENCODER_IDLE_TICKS = 50  # an encoder no one has needed for 1 s is dropped
FULL_MIX = ""  # encoder key of the shared full mix; a talker's own mix-minus is keyed by their account id


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    opus_bit_rate: int = 32_000
    opus_complexity: int = 0
    forward_pairs: bool = True


@dataclass(slots=True)
class _SharedEncoder:
    encoder: OpusEncoder
    last_tick: int


class LiveSpace:
    def __init__(
        self,
        space_id: str,
        programme: Programme,
        mixer: MixerSettings,
        voice: VoiceConfig,
        metrics: MediaMetrics,
        clock: Callable[[], float],  # the event loop's clock: packets and ticks are stamped with it
    ) -> None:
        self.space_id = space_id
        self.programme = programme
        self.mixer = Mixer(mixer)
        self.voice = voice
        self.metrics = metrics
        self.publishers: dict[str, Publisher] = {}  # by account id: one session per speaker
        self._encoders: dict[str, _SharedEncoder] = {}
        self._forwards: dict[str, Publisher] = {}  # source account -> the publisher hearing it untouched
        self._ticks = 0
        self._cpu_ns = 0
        self.clock = clock

    # --- speakers ---------------------------------------------------------------------------------
    def attach(self, publisher: Publisher, muted: bool) -> Publisher | None:
        """Add a speaker's session; returns the session it replaces (a reconnect), to be hung up."""
        old = self.publishers.get(publisher.account_id)
        self.publishers[publisher.account_id] = publisher
        self.mixer.add(publisher.account_id, muted)
        self._plan_forwards()
        self.metrics.publishers.labels(self.space_id).set(len(self.publishers))
        return old

    def detach(self, publisher: Publisher) -> bool:
        if self.publishers.get(publisher.account_id) is not publisher:
            return False
        del self.publishers[publisher.account_id]
        self.mixer.remove(publisher.account_id)
        self._plan_forwards()
        self.metrics.publishers.labels(self.space_id).set(len(self.publishers))
        return True

    def set_muted(self, account_id: str, muted: bool) -> None:
        self.mixer.set_muted(account_id, muted)
        self._plan_forwards()

    def is_muted(self, account_id: str) -> bool:
        voice = self.mixer.voices.get(account_id)
        return voice is None or voice.muted

    def _plan_forwards(self) -> None:
        self._forwards = {}
        if not self.voice.forward_pairs or len(self.publishers) != 2:
            return
        a, b = self.publishers.values()
        for source, target in ((a, b), (b, a)):
            if target.out is not None and not self.is_muted(source.account_id):
                self._forwards[source.account_id] = target

    # --- audio ------------------------------------------------------------------------------------
    def on_audio(self, publisher: Publisher, payload: bytes) -> None:
        """An Opus packet from a speaker, on arrival: decode for the mix, forward where that is the mix-minus."""
        started = time.thread_time_ns()
        account = publisher.account_id
        if self.publishers.get(account) is publisher and not self.is_muted(account):
            now = self.clock()
            self.mixer.rest(account, len(payload) <= DTX_PAYLOAD)
            for frame in publisher.decoder.decode(payload):
                self.mixer.push(account, frame, now)
            target = self._forwards.get(account)
            if target is not None and target.out is not None:
                target.out.push(payload, now, now)
        self._cpu_ns += time.thread_time_ns() - started

    def tick(self, now: float) -> None:
        """One 20 ms frame: mix, feed the programme, send every speaker their mix-minus."""
        started = time.thread_time_ns()
        self._ticks += 1
        result = self.mixer.tick()
        if result.underruns:
            self.metrics.underruns.inc(result.underruns)
        self.programme.feed(result.programme, now)
        forwarded = {p.account_id for p in self._forwards.values()}
        packets: dict[str, bytes | None] = {}
        for account, publisher in self.publishers.items():
            if publisher.out is None or account in forwarded:
                continue
            heard = result.heard_by[account]
            if not heard:  # nobody else is talking: what they hear is digital silence
                publisher.out.push_silence(now)
                continue
            talking = account in result.contributors
            key = account if talking else FULL_MIX
            if key not in packets:
                packets[key] = self._encode(key, result.mixes[heard])
            payload = packets[key]
            if payload is not None:
                source = min((result.stamps[v] for v in heard), default=None)
                publisher.out.push(payload, now, source)
        self._drop_idle_encoders()
        self._cpu_ns += time.thread_time_ns() - started
        if self._ticks % 50 == 0:
            self.flush_cpu()

    def _encode(self, key: str, samples: Samples) -> bytes | None:
        shared = self._encoders.get(key)
        if shared is None:
            shared = self._encoders[key] = _SharedEncoder(
                OpusEncoder(self.voice.opus_bit_rate, self.voice.opus_complexity), self._ticks
            )
        shared.last_tick = self._ticks
        return shared.encoder.encode(samples)

    def _drop_idle_encoders(self) -> None:
        if self._ticks % ENCODER_IDLE_TICKS:
            return
        for key in [k for k, e in self._encoders.items() if self._ticks - e.last_tick > ENCODER_IDLE_TICKS]:
            del self._encoders[key]

    @property
    def encoders(self) -> int:
        return len(self._encoders)

    def flush_cpu(self) -> None:
        if self._cpu_ns:
            self.metrics.cpu.labels(self.space_id).inc(self._cpu_ns / 1e9)
            self._cpu_ns = 0
