"""An S3-compatible server on loopback for trying the scaled-out form and for tests: moto's S3 server
(a development dependency, `pip install -e .[dev]`), never for production (docs/deploy.md names MinIO,
Garage and AWS S3).

Requests are handled one at a time: moto checks `If-None-Match: *` and then writes, so two threads of its
server could both pass the check, while S3 decides a conditional PUT atomically; serial handling models
that. `S3Server` can be stopped and started again on the same port with its objects kept (they live in
moto's in-process backend), which is how the blob-store fault tests take the store away and bring it back.

    python -m townhall.s3server --port 9000 --bucket townhall    # what `townhall cluster` runs
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import httpx

ACCESS_KEY = "townhall-test"
SECRET_KEY = "townhall-test-secret"
REGION = "us-east-1"


class _OneAtATime:
    def __init__(self, app: Any) -> None:
        self.app, self.lock = app, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


class S3Server:
    """moto's S3 server under werkzeug on 127.0.0.1:`port` (0: a free one, fixed at the first start)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        from moto.moto_server import werkzeug_app

        self.host, self.port = host, port
        self._app = _OneAtATime(werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app))
        self._handler = getattr(werkzeug_app, "MotoRequestHandler", None)  # keeps S3 metadata headers (moto >= 5.1)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        from werkzeug.serving import make_server

        if self._server is not None:
            return
        self._server = make_server(self.host, self.port, self._app, threaded=True, request_handler=self._handler)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering (connections are refused from now on); the objects stay for a later start."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def create_bucket(self, name: str) -> None:
        response = httpx.put(f"{self.url}/{name}", timeout=10)  # moto checks no signature
        if response.status_code not in (200, 409):
            response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description="moto's S3 server on loopback, for tests and `townhall cluster`")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    args = parser.parse_args()
    server = S3Server(args.port)
    server.start()
    for bucket in args.bucket:
        server.create_bucket(bucket)
    print(f"s3 test server on {server.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
