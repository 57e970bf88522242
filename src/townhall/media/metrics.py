"""The media node's Prometheus metrics, registered on the registry the Runtime holds.

Labels carry space ids only where the figure is per space (publishers, CPU); each is removed when the
space stops, so a long-running node does not grow its series without bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class MediaMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.publishers = Gauge("townhall_media_publishers", "open WHIP publishers", ["space"], registry=reg)
        self.spaces = Gauge("townhall_media_spaces", "live spaces on this media node", registry=reg)
        self.parts = Counter("townhall_media_parts_total", "LL-HLS parts produced", registry=reg)
        self.part_lateness = Histogram(
            "townhall_media_part_lateness_seconds",
            "from the tick that completed a part to the part being fetchable",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0),
            registry=reg,
        )
        self.minus_delay = Histogram(
            "townhall_media_mix_minus_delay_seconds",
            "server-added delay of a speaker's mix-minus: audio arriving to its packet leaving for the sender",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.2, 0.5),
            registry=reg,
        )
        self.underruns = Counter(
            "townhall_media_mixer_underruns_total",
            "ticks a connected voice had no frame (mixed as silence)",
            registry=reg,
        )
        self.tick_lateness = Histogram(
            "townhall_media_tick_lateness_seconds",
            "how late each 20 ms mixer tick ran after its due time (the audio clock's health)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=reg,
        )
        self.late_ticks = Counter(
            "townhall_media_late_ticks_total", "mixer ticks run more than one frame after their time", registry=reg
        )
        self.clock_rebases = Counter(
            "townhall_media_clock_rebases_total",
            "stalls of the audio clock past catching up (audio lost; each is a gap in the replay)",
            registry=reg,
        )
        self.cpu = Counter("townhall_media_cpu_seconds_total", "CPU spent on a space's audio", ["space"], registry=reg)
        self.fenced_writes = Counter(
            "townhall_media_fenced_out_total",
            "spaces this node stopped writing because its lease lapsed (another node may run them)",
            registry=reg,
        )
        self.rejected = Counter("townhall_media_whip_rejected_total", "WHIP offers refused", ["reason"], registry=reg)

    def forget(self, space_id: str) -> None:
        for metric in (self.publishers, self.cpu):
            try:
                metric.remove(space_id)
            except KeyError:
                pass
