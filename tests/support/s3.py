"""An S3-compatible server on loopback for tests: moto's S3 server on a free 127.0.0.1 port
(`townhall.s3server`, which `townhall cluster` runs too).

Each test gets a bucket of its own (created with a plain PUT: moto checks no signature), so tests
never see each other's objects; the server lives as long as the fixture that started it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from townhall.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server (requests handled one at a time); yields its endpoint URL and stops it afterwards."""
    with s3_server() as server:
        yield server.url


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """The server itself, to stop and start again on its port (its objects are kept meanwhile)."""
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def new_bucket(endpoint: str) -> str:
    import httpx

    name = f"th-test-{uuid.uuid4().hex[:12]}"
    response = httpx.put(f"{endpoint}/{name}", timeout=10)
    response.raise_for_status()
    return name


def s3_options(endpoint: str) -> dict[str, Any]:
    """Keyword arguments of `S3Blobs` for the test server."""
    return {"endpoint": endpoint, "region": REGION, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
