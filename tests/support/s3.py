"""An S3-compatible server on loopback for tests: moto's S3 server on a free 127.0.0.1 port.

Each test gets a bucket of its own (created with a plain PUT: moto checks no signature), so tests
never see each other's objects; the server lives as long as the fixture that started it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

ACCESS_KEY = "townhall-test"
SECRET_KEY = "townhall-test-secret"
REGION = "us-east-1"


class _OneAtATime:
    """A WSGI app that handles one request at a time. moto checks `If-None-Match: *` and then writes, so
    two threads of its server can both pass the check; S3 decides a conditional PUT atomically, which
    serial handling models (the contract suite's race test would otherwise test moto, not the store)."""

    def __init__(self, app: Any) -> None:
        self.app, self.lock = app, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server (its WSGI app under werkzeug, as its ThreadedMotoServer does, with requests
    handled one at a time); yields its endpoint URL and stops it afterwards."""
    from moto.moto_server import werkzeug_app
    from werkzeug.serving import make_server

    app = _OneAtATime(werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app))
    handler = getattr(werkzeug_app, "MotoRequestHandler", None)  # keeps S3 metadata headers (moto >= 5.1)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def new_bucket(endpoint: str) -> str:
    name = f"th-test-{uuid.uuid4().hex[:12]}"
    response = httpx.put(f"{endpoint}/{name}", timeout=10)
    response.raise_for_status()
    return name


def s3_options(endpoint: str) -> dict[str, Any]:
    """Keyword arguments of `S3Blobs` for the test server."""
    return {"endpoint": endpoint, "region": REGION, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
