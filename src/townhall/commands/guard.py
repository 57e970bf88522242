"""What a serving verb checks before it starts, so a newcomer gets one clear line instead of a traceback:
the embedded form's data directory is held by one process at a time (a lock file for the process's life),
and the listening address is bound before the server starts (its owner named when it is taken)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "townhall.lock"


class StartRefused(Exception):
    """The verb cannot start; the message says why and what to change, in one line."""


@contextlib.contextmanager
def holding_data_dir(data_dir: Path, verb: str) -> Iterator[None]:
    """Hold the data directory's lock for the block: a second process on the same directory (two demos) would
    run the other's live spaces and write over its parts. The kernel drops the lock when the process dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise StartRefused(
                f"the data directory {data_dir} is in use by {holder}; stop it, or give this one its own "
                "with --data-dir (TOWNHALL_DATA_DIR)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"townhall {verb} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def bound_socket(host: str, port: int, what: str = "--host/--port (TOWNHALL_HOST, TOWNHALL_PORT)") -> socket.socket:
    """A listening socket on host:port, bound now, or the reason it cannot be in one line."""
    from townhall.api.server import listening_socket  # uvicorn: only for the verbs that serve

    try:
        return listening_socket(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            taken = f"{host}:{port} is already in use by another program; choose another with {what}"
            raise StartRefused(taken) from None
        raise StartRefused(f"cannot listen on {host}:{port}: {exc.strerror}; change it with {what}") from None
