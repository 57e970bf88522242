"""An S3-compatible server on loopback for tests: moto's server mode on a free 127.0.0.1 port.

Each test gets a bucket of its own (created with a plain PUT: moto checks no signature), so tests
never see each other's objects; the server lives as long as the fixture that started it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

ACCESS_KEY = "townhall-test"
SECRET_KEY = "townhall-test-secret"
REGION = "us-east-1"


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server; yields its endpoint URL and stops it afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str) -> str:
    name = f"th-test-{uuid.uuid4().hex[:12]}"
    response = httpx.put(f"{endpoint}/{name}", timeout=10)
    response.raise_for_status()
    return name


def s3_options(endpoint: str) -> dict[str, Any]:
    """Keyword arguments of `S3Blobs` for the test server."""
    return {"endpoint": endpoint, "region": REGION, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
