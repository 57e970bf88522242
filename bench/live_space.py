"""A live space for the listener benchmark: the real townhall app (control plane, media node, origin)
with synthetic speakers talking over WHIP (or, with --external-speakers, their tokens printed for a
process of the caller's), in its own process so it has its own event loop.

Prints one JSON line ({"origin": ..., "space": ...}) once the space is live, then serves until SIGTERM.
Binds 127.0.0.1 only. Not a benchmark by itself: bench/listeners.py starts and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
from pathlib import Path

from townhall.commands.serve import serving
from townhall.media.synthetic import run_synthetic_speakers
from townhall.settings import Settings


async def main(
    port: int,
    listener_base_url: str,
    speakers: int,
    external: bool,
    internal_port: int,
    delivery_port: int,
    under: str | None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="townhall-bench-", dir=under) as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            host="127.0.0.1",
            port=port,
            internal_port=internal_port,
            delivery_port=delivery_port,
            listener_base_url=listener_base_url,
            joins_per_minute_per_ip=10**9,  # every simulated listener joins from loopback
            log_level="warning",
        )
        async with serving(settings) as served:
            rt = served.runtime
            signed = await rt.accounts.register("bench_host", "bench-password", "127.0.0.1")
            host = signed.account
            space = await rt.spaces.create(host, "Listener benchmark", None, None)
            space = await rt.spaces.start(host, space.id)
            tokens = [str(await rt.spaces.speaker_token(host, space.id))]
            for i in range(1, speakers):  # guests invited to speak, as the demo does
                guest = (await rt.accounts.register(f"bench_guest{i}", "bench-password", "127.0.0.1")).account
                await rt.spaces.invite(host, space.id, guest.id)
                await rt.spaces.accept_invite(guest, space.id)
                tokens.append(str(await rt.spaces.speaker_token(guest, space.id)))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            whip = f"http://127.0.0.1:{port}/whip/{space.id}"
            speaking = None if external else asyncio.create_task(run_synthetic_speakers(lambda i: whip, tokens, stop))
            out = {"origin": f"http://127.0.0.1:{port}", "space": space.id}
            if external:  # the caller publishes (from a process of its own) and acts as the host over HTTP
                out.update(whip=whip, speaker_tokens=tokens, host_session=signed.session_token)
            print(json.dumps(out), flush=True)
            await stop.wait()
            if speaking is not None:
                await speaking
            await rt.spaces.end(host, space.id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--listener-base-url", required=True)
    parser.add_argument("--speakers", type=int, default=1)
    parser.add_argument("--internal-port", type=int, default=0, help="a port of the edge's own (0: none)")
    parser.add_argument("--delivery-port", type=int, default=0, help="the edge's live media port (0: none)")
    parser.add_argument("--data-under", help="make the data directory under this folder (default: the temp folder)")
    parser.add_argument("--external-speakers", action="store_true", help="print the speaker tokens; publish none")
    args = parser.parse_args()
    import uvloop

    uvloop.run(
        main(
            args.port, args.listener_base_url, args.speakers, args.external_speakers, args.internal_port,
            args.delivery_port, args.data_under,
        )
    )  # fmt: skip
