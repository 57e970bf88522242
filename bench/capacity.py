"""The 1-million and 8-million listener model: how many edges and shields, from measured per-edge figures.

Pure arithmetic over inputs that bench/listeners.py measured (or that --figures reads from its --save
file), for each delivery path: LL-HLS and chunked CMAF (decision 0011); every assumption is a flag and
is printed. Never measures anything itself.
Usage: .venv/bin/python bench/capacity.py [--figures listeners.json] [--edge-cores 32] ...
Prints the model for each path and audience, then `edges for 8,000,000 listeners: LL-HLS = E, chunked = C`,
then, last, the LL-HLS figure as before: `edges for 8,000,000 listeners = E (...)`.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Measured by bench/listeners.py on this 2-core machine, per delivery path. The edge figure is varnishd's
# own CPU: listener requests served per second per core it used. LL-HLS: docs/scale.md has the run.
# Chunked CMAF: `--protocol chunked --levels 100,1000 --seconds 10` on 2026-12-05 (load average 3.8 at
# N=100, 48 at N=1,000, mostly the load generator's own; a second run gave 3,135 requests per core).
# A chunked request is held open for a segment and streams its nine chunks, so it costs the edge more
# than an LL-HLS request, and a listener makes twelve times fewer (decision 0011).
MEASURED = {
    "LL-HLS": {
        "requests_per_listener_s": 9.5,  # a blocking playlist reload and a part per 213 ms part
        "wire_bytes_per_listener_s": 9_570.0,  # headers + gzip'd playlists + parts, at 64 kbit/s AAC
        "edge_requests_per_core_s": 10_670.0,
        "origin_requests_per_space_s": 9.4,  # one playlist and one part per part, whatever the audience
    },
    "chunked": {
        "requests_per_listener_s": 0.76,  # a segment per 1.92 s, the MPD every 5 s, the clock 4 times a minute
        "wire_bytes_per_listener_s": 4_779.0,
        "edge_requests_per_core_s": 3_020.0,  # 755 requests/s on 0.25 cores of varnishd at N=1,000
        "origin_requests_per_space_s": 1.5,  # one segment per segment, about one MPD a second
    },
}
PROTOCOLS = {"LL-HLS": "hls", "chunked": "chunked"}  # a path's name here, and in a listeners.py row


# Measured by bench/control_plane.py on this machine (one API process pinned to one core, PostgreSQL and
# Redis beside it; 2026-12-05, `--rounds 3`, load average 1.3, renewals written behind and joins handing
# their seat to the shard: decision 0012): requests per API core, and Redis's own CPU per renewal (as
# renewals per Redis core), join and leave.
CONTROL_PLANE = {
    "api_joins_per_core_s": 1842.0,
    "api_renewals_per_core_s": 7079.0,
    "api_leaves_per_core_s": 2667.0,
    "redis_renewals_per_shard_s": 418983.0,
    "redis_us_per_join": 40.6,
    "redis_us_per_leave": 36.2,
}


@dataclass(frozen=True)
class ControlPlane:
    listeners: int
    joins_s: float
    renewals_s: float
    leaves_s: float
    api_cores: int
    redis_shards: int


def control_plane(
    listeners: int, figures: dict[str, float], join_window_s: float, stay_s: float, renew_every_s: float, load: float
) -> ControlPlane:
    """The API cores and Redis shards for an audience that joins within `join_window_s` and stays `stay_s`,
    renewing every `renew_every_s` (an uncapped space's presence lease, decision 0012), each run at `load`."""
    joins_s, renewals_s, leaves_s = listeners / join_window_s, listeners / renew_every_s, listeners / stay_s
    api = (
        joins_s / figures["api_joins_per_core_s"]
        + renewals_s / figures["api_renewals_per_core_s"]
        + leaves_s / figures["api_leaves_per_core_s"]
    )
    # Redis's CPU of each, as measured (a join: the pace, the seat moved to its shard, the count)
    redis_s = (
        renewals_s / figures["redis_renewals_per_shard_s"]
        + joins_s * figures["redis_us_per_join"] / 1e6
        + leaves_s * figures["redis_us_per_leave"] / 1e6
    )
    return ControlPlane(
        listeners,
        joins_s,
        renewals_s,
        leaves_s,
        math.ceil(api / load),
        math.ceil(redis_s / load),
    )


@dataclass(frozen=True)
class Assumptions:
    requests_per_listener_s: float
    wire_bytes_per_listener_s: float
    edge_requests_per_core_s: float
    origin_requests_per_space_s: float
    edge_cores: int
    edge_nic_gbit: float
    utilisation: float  # how full an edge may run (headroom for spikes, joins, a lost neighbour)
    edges_per_shield: int
    spaces: int


@dataclass(frozen=True)
class Plan:
    listeners: int
    requests_s: float
    gbit_s: float
    edges_by_requests: int
    edges_by_bandwidth: int
    edges: int
    shields: int
    shield_requests_s: float
    origin_requests_s: float


def plan(listeners: int, a: Assumptions) -> Plan:
    requests_s = listeners * a.requests_per_listener_s
    gbit_s = listeners * a.wire_bytes_per_listener_s * 8 / 1e9
    by_requests = math.ceil(requests_s / (a.edge_requests_per_core_s * a.edge_cores * a.utilisation))
    by_bandwidth = math.ceil(gbit_s / (a.edge_nic_gbit * a.utilisation))
    edges = max(2, by_requests, by_bandwidth)  # never one: an edge is lost sometimes
    shields = max(2, math.ceil(edges / a.edges_per_shield))
    # Each edge collapses its audience to one request per object per space; so does each shield.
    shield_requests_s = edges * a.origin_requests_per_space_s * a.spaces / shields
    origin_requests_s = shields * a.origin_requests_per_space_s * a.spaces
    return Plan(listeners, requests_s, gbit_s, by_requests, by_bandwidth, edges, shields, shield_requests_s,
                origin_requests_s)  # fmt: skip


def measured_from(path: Path) -> dict[str, dict[str, float]]:
    """Each path's figures from a bench/listeners.py --save file (a path it did not run keeps the figures
    above: a run without `--protocol chunked` has only LL-HLS)."""
    rows = json.loads(path.read_text())
    found = {}
    for name, protocol in PROTOCOLS.items():
        mine = [row for row in rows if row.get("protocol", "hls") == protocol]
        found[name] = figures_of(mine) if mine else MEASURED[name]
    return found


def figures_of(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per-listener figures from the smallest level of one path's rows, the per-core figure from the largest."""
    top = max(rows, key=lambda row: row["listeners"])
    smallest = min(rows, key=lambda row: row["listeners"])
    return {
        # players that keep up (the smallest level) show what a listener asks for
        "requests_per_listener_s": smallest["listener_req_s"] / smallest["listeners"],
        "wire_bytes_per_listener_s": smallest["bytes_per_listener_s"],
        "edge_requests_per_core_s": top["listener_req_s"] / top["edge_cpu"],
        "origin_requests_per_space_s": smallest["origin_req_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", type=Path, help="a bench/listeners.py --save file (else the figures above)")
    parser.add_argument("--edge-cores", type=int, default=32, help="cores per production edge")
    parser.add_argument("--edge-nic-gbit", type=float, default=25.0, help="network per edge")
    parser.add_argument("--utilisation", type=float, default=0.5, help="target load of an edge, 0..1")
    parser.add_argument("--edges-per-shield", type=int, default=40)
    parser.add_argument("--spaces", type=int, default=1, help="live spaces sharing the audience")
    parser.add_argument("--audiences", default="1000000,8000000")
    parser.add_argument("--join-window-s", type=float, default=600.0, help="the audience arrives within this")
    parser.add_argument("--stay-s", type=float, default=7200.0, help="and stays this long (the seed's space)")
    parser.add_argument("--renew-every-s", type=float, default=40.0, help="open_lease_ttl_s / 3 (decision 0012)")
    parser.add_argument(
        "--control-plane", type=json.loads, default=CONTROL_PLANE, help="bench/control_plane.py's figures (JSON)"
    )
    args = parser.parse_args()
    measured = measured_from(args.figures) if args.figures else MEASURED
    shared = {
        "edge_cores": args.edge_cores,
        "edge_nic_gbit": args.edge_nic_gbit,
        "utilisation": args.utilisation,
        "edges_per_shield": args.edges_per_shield,
        "spaces": args.spaces,
    }
    print("assumptions:")
    for name, value in shared.items():
        print(f"  {name:32} {value:,}")
    plans: dict[str, list[Plan]] = {}
    for path, figures in measured.items():
        print(f"measured ({path}):")
        for name, value in figures.items():
            print(f"  {name:32} {value:,.2f}")
        a = Assumptions(**figures, **shared)
        plans[path] = [plan(int(n), a) for n in args.audiences.split(",")]
        for p in plans[path]:
            print(
                f"{path:>8} {p.listeners:>10,} listeners: {p.requests_s / 1e6:6.1f} M req/s, {p.gbit_s:7.1f} Gbit/s -> "
                f"edges {p.edges:,} (by requests {p.edges_by_requests:,}, by bandwidth {p.edges_by_bandwidth:,}), "
                f"shields {p.shields} ({p.shield_requests_s:,.0f} req/s each), origin {p.origin_requests_s:,.0f} req/s"
            )
    cp = [
        control_plane(p.listeners, args.control_plane, args.join_window_s, args.stay_s, args.renew_every_s,
                      args.utilisation)
        for p in plans["LL-HLS"]
    ]  # fmt: skip
    for c in cp:
        print(
            f"{c.listeners:>10,} listeners: {c.joins_s:,.0f} joins/s, {c.renewals_s:,.0f} renewals/s, "
            f"{c.leaves_s:,.0f} leaves/s -> control plane {c.api_cores:,} API cores, {c.redis_shards:,} Redis shards"
        )
    print(f"control plane for {cp[-1].listeners:,} listeners = {cp[-1].api_cores:,} API cores, "
          f"{cp[-1].redis_shards:,} Redis shards")  # fmt: skip
    each = ", ".join(f"{path} = {paths[-1].edges:,}" for path, paths in plans.items())
    print(f"edges for {cp[-1].listeners:,} listeners: {each}")
    last = plans["LL-HLS"][-1]  # the last line as before: the LL-HLS figure
    print(f"edges for {last.listeners:,} listeners = {last.edges:,} (shields {last.shields}, "
          f"origin {last.origin_requests_s:,.0f} req/s)")  # fmt: skip


if __name__ == "__main__":
    main()
