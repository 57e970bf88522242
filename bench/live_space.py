"""A live space for the listener benchmark: the real townhall app (control plane, media node, origin)
with one synthetic speaker talking over WHIP, in its own process so it has its own event loop.

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


async def main(port: int, listener_base_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="townhall-bench-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            host="127.0.0.1",
            port=port,
            listener_base_url=listener_base_url,
            joins_per_minute_per_ip=10**9,  # every simulated listener joins from loopback
            log_level="warning",
        )
        async with serving(settings) as served:
            rt = served.runtime
            host = (await rt.accounts.register("bench_host", "bench-password", "127.0.0.1")).account
            space = await rt.spaces.create(host, "Listener benchmark", None, None)
            space = await rt.spaces.start(host, space.id)
            token = str(await rt.spaces.speaker_token(host, space.id))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            whip = f"http://127.0.0.1:{port}/whip/{space.id}"
            speaker = asyncio.create_task(run_synthetic_speakers(lambda i: whip, [token], stop))
            print(json.dumps({"origin": f"http://127.0.0.1:{port}", "space": space.id}), flush=True)
            await stop.wait()
            await speaker
            await rt.spaces.end(host, space.id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--listener-base-url", required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.port, args.listener_base_url))
