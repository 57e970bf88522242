"""The Varnish edge: render the VCL from settings, run varnishd as a child process, read its counters.

It never answers a listener itself and never sits on a listener's path in Python: varnishd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import math
import os
import re
import shutil
import signal
import string
import subprocess
import tempfile
import time
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from string import Template
from types import TracebackType
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

import httpx

from townhall.edge import tokens


class EdgeSettings(Protocol):
    """What an edge is configured by (the root passes its settings, which have every one of these)."""

    country_header: str
    delivery_port: int
    edge_error_ttl_s: float
    edge_first_byte_timeout_s: float
    edge_host: str
    edge_immutable_ttl_s: int
    edge_live_ttl_s: float
    edge_metrics_port: int
    edge_origin_url: str
    edge_port: int
    edge_public_connections: int
    edge_revocation_ttl_s: float
    edge_rate_period_s: int
    edge_staff_url: str
    edge_requests_per_ip: int
    edge_role: str
    edge_storage: str
    edge_thread_queue_limit: int
    internal_host: str
    internal_port: int
    edge_threads_min: int
    edge_varnishd: str
    edge_work_dir: str
    host: str
    port: int


ROLES = ("edge", "shield")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")  # it is written into the VCL as req.http.<name>
CREDENTIAL = re.compile(r"^[A-Za-z0-9_-]{32,128}\Z")  # written into the VCL as a string
UNRESERVED = string.ascii_letters + string.digits + "-._~"


REVOCATION_GRACE_S = 4  # how long a space's previous revocation list answers while its refresh is on its way
BUSY_RETRY_AFTER_S = 2  # Retry-After of the edge's own 503 (the origin did not answer, or its pool is full)
ORIGIN_KEEP_ALIVE_S = 5  # uvicorn's timeout_keep_alive, which api/server.py leaves at its default


def origin_url(settings: EdgeSettings) -> str:
    """What the edge fetches from: as set, else the origin's internal port (its own accept queue), else its port."""
    if settings.edge_origin_url:
        return settings.edge_origin_url
    if settings.internal_port:
        return f"http://{settings.internal_host}:{settings.internal_port}"
    return f"http://{settings.host}:{settings.port}"


def delivery_url(settings: EdgeSettings, origin: str) -> str:
    """Where the edge fetches live media (playlists, parts, segments): the origin's delivery port when it
    has one (a server of its own, off the API's loop), else the origin."""
    if settings.delivery_port:
        return f"http://{settings.internal_host}:{settings.delivery_port}"
    return origin


def staff_url(settings: EdgeSettings, origin: str) -> str:
    """Where the edge sends signed-in requests it verified (the staff lane): an API process of their
    own when set, else the origin."""
    return settings.edge_staff_url or origin


def _plain_http(url: str) -> SplitResult:
    """A backend's URL, split; only plain http to host:port (TLS to the origin is the network's job)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the edge fetches over plain http from host:port, not {parts.geturl()!r}")
    return parts


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _rate_limit_block(settings: EdgeSettings) -> str:
    if settings.edge_role != "edge" or settings.edge_requests_per_ip <= 0:
        return "    # no per-address limit in this role"
    args = f"{settings.edge_requests_per_ip}, {settings.edge_rate_period_s}s"
    return (
        f'    if (vsthrottle.is_denied("ip:" + client.ip, {args})) {{\n'
        '        return (synth(429, "rate_limited"));\n'
        "    }"
    )


def _revocation_block(settings: EdgeSettings) -> str:
    """VCL that looks the token's subject up in the space's revocation list (one cached object per space,
    at most `edge_revocation_ttl_s` old) before the media: vcl_deliver refuses it or restarts with the URL."""
    if settings.edge_role != "edge" or settings.edge_revocation_ttl_s <= 0:
        return "            # no revocation list in this role"
    return (
        '            set req.http.X-TH-Subject = regsub(req.http.X-TH-Token, "^(?:[^.]*\\.){4}([^.]*)\\..*$", "\\1");\n'
        "            set req.http.X-TH-Media = req.url;\n"
        '            set req.url = regsub(req.url, "^/live/([^/?]*).*$", "/live/\\1/revoked");'
    )


def _percent_decoding() -> str:
    """VCL that decodes every percent-encoded unreserved character (RFC 3986 section 2.3), so that
    `/%6cive/` is checked as the `/live/` it means. Only these: decoding any other octet changes
    what a URL says."""
    lines = []
    for char in UNRESERVED:
        code = f"{ord(char):02X}"
        high, low = code[0], code[1]
        low_class = f"[{low}{low.lower()}]" if low.isalpha() else low
        lines.append(f'        set req.url = regsuball(req.url, "%{high}{low_class}", "{char}");')
    return "\n".join(lines)


def render_vcl(settings: EdgeSettings, keys: Mapping[str, bytes], credential: str, origin: str | None = None) -> str:
    """The VCL for this edge: origin, token keys (every key verifies, chosen by kid), the credential
    it fetches live media with, TTLs, limits."""
    if settings.edge_role not in ROLES:
        raise ValueError(f"edge_role must be one of {ROLES}, not {settings.edge_role!r}")
    target = _plain_http(origin or origin_url(settings))
    media = urlsplit(delivery_url(settings, target.geturl()))
    staff = _plain_http(staff_url(settings, target.geturl()))
    if not HEADER_NAME.match(settings.country_header):
        raise ValueError(f"country_header must be an HTTP header name, not {settings.country_header!r}")
    if not CREDENTIAL.match(credential):
        raise ValueError("the edge credential must be 32 to 128 of [A-Za-z0-9_-] (TOWNHALL_EDGE_SECRET)")
    is_edge = settings.edge_role == "edge"
    refill_s = settings.edge_rate_period_s / max(settings.edge_requests_per_ip, 1)
    template = _VclTemplate(files("townhall.edge").joinpath("townhall.vcl").read_text())
    return template.substitute(
        role=settings.edge_role,
        origin_host=target.hostname,
        origin_port=str(target.port or 80),
        delivery_host=media.hostname or target.hostname,
        delivery_port=str(media.port or 80),
        staff_host=staff.hostname,
        staff_port=str(staff.port or 80),
        first_byte_timeout=_duration(settings.edge_first_byte_timeout_s),
        public_connections=str(settings.edge_public_connections),
        busy_retry_after=str(BUSY_RETRY_AFTER_S),
        rate_limit=_rate_limit_block(settings),
        retry_after=str(max(1, math.ceil(refill_s))),
        is_edge="true" if is_edge else "false",
        edge_credential=credential,
        edge_credential_recv="    unset req.http.X-Townhall-Edge;"
        if is_edge
        else "    # shield: edges prove themselves",
        percent_decode=_percent_decoding(),
        revocation_recv=_revocation_block(settings),
        revocation_ttl=_duration(max(settings.edge_revocation_ttl_s, 0.001)),
        revocation_grace=_duration(REVOCATION_GRACE_S),
        token_regex=tokens.TOKEN_REGEX,
        key_branches=tokens.key_branches(keys if is_edge else {}),
        lane_key_branches=tokens.key_branches(keys if is_edge else {}, unknown='set req.http.X-TH-Mac = "";'),
        lane_default="origin_public" if is_edge else "origin",
        staff_scopes=tokens.STAFF_SCOPES,
        listen_scope=tokens.LISTEN_SCOPE,
        country_header=settings.country_header,
        error_ttl=_duration(settings.edge_error_ttl_s),
        live_ttl=_duration(settings.edge_live_ttl_s),
        immutable_ttl=f"{settings.edge_immutable_ttl_s}s",
        deliver_role="unset resp.http.X-Townhall-Withheld;" if is_edge else "# shield: edges need the header",
    )


def _share_with_varnish_group(work_dir: Path, vcl_path: Path) -> None:
    """Run as root, varnishd reads the VCL as user varnish: let its group in, nobody else (keys!)."""
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam("varnish").gr_gid
    except KeyError:
        return
    for path, mode in ((work_dir, 0o750), (vcl_path, 0o640)):
        os.chown(path, 0, gid)
        path.chmod(mode)


class _VclTemplate(Template):
    delimiter = "@"  # VCL regexes are full of `$`


class EdgeError(RuntimeError):
    """varnishd would not start or answer; the message carries its own words."""


class Edge:
    """One varnishd in front of an origin (or a shield), on `host:port`, with its own working dir."""

    def __init__(
        self,
        settings: EdgeSettings,
        keys: Mapping[str, bytes],
        *,
        credential: str,
        origin: str | None = None,
        port: int | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.host = settings.edge_host
        self.port = settings.edge_port if port is None else port
        self.origin = origin
        self.credential = credential
        self.vcl = render_vcl(settings, keys, credential, origin)
        self._loaded = "boot"  # the VCL varnishd runs, by its varnishadm name
        self._own_dir = work_dir is None and not settings.edge_work_dir
        if work_dir is None:
            work_dir = Path(settings.edge_work_dir) if settings.edge_work_dir else None
        # Absolute: varnishd reads a relative -n as relative to /var/lib/varnish.
        self.work_dir = (work_dir or Path(tempfile.mkdtemp(prefix="townhall-edge-"))).resolve()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def name(self) -> str:
        """The varnishd instance (-n) that varnishstat and varnishlog address."""
        return str(self.work_dir / "varnishd")

    def start(self, timeout_s: float = 30.0) -> Edge:
        """Start varnishd and return once it answers; raise EdgeError with its log otherwise."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        vcl_path = self.work_dir / "townhall.vcl"
        vcl_path.write_text(self.vcl)
        _share_with_varnish_group(self.work_dir, vcl_path)
        log = (self.work_dir / "varnishd.log").open("wb")
        command = [
            self.settings.edge_varnishd, "-F", "-n", self.name, "-a", f"{self.host}:{self.port}",
            "-f", str(vcl_path), "-s", self.settings.edge_storage,
            "-p", "default_grace=0", "-p", "syslog_cli_traffic=off",
            # Every listener asks at the same moment, when a part lands: keep threads ready and let
            # a burst queue rather than be dropped (thread_queue_limit is 20 by default).
            "-p", f"thread_pool_min={self.settings.edge_threads_min}",
            "-p", f"thread_queue_limit={self.settings.edge_thread_queue_limit}",
            # Hostile clients: bounded request heads (each header, all of them, how many), a client that
            # sends its head slowly or idles is dropped, and one that reads slowly cannot hold a thread.
            "-p", "http_req_hdr_len=8k", "-p", "http_req_size=32k", "-p", "http_max_hdr=64",
            "-p", "timeout_idle=5", "-p", "idle_send_timeout=10", "-p", "send_timeout=60",
            # The origin (uvicorn) closes a keep-alive connection after 5 s idle; Varnish keeps them 60 s by
            # default and may reuse one just as the origin closes it: a 503 it cannot retry for a POST.
            "-p", f"backend_idle_timeout={ORIGIN_KEEP_ALIVE_S - 1}",
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        except OSError as error:
            raise EdgeError(f"cannot run {self.settings.edge_varnishd}: {error}") from error
        finally:
            log.close()
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        reason = "not started"
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    reason = f"varnishd exited with {self._process.returncode}"
                    break
                try:
                    if client.get(f"{self.url}/_edge/health").status_code == 200:
                        return
                except httpx.HTTPError as error:
                    reason = str(error) or type(error).__name__
                time.sleep(0.02)
        log = (self.work_dir / "varnishd.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise EdgeError(f"the edge on {self.url} did not answer ({reason}):\n{log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def reload(self, keys: Mapping[str, bytes]) -> None:
        """Switch to a VCL with these keys (a rotation) without a restart: cache and connections stay."""
        vcl = render_vcl(self.settings, keys, self.credential, self.origin)
        name = f"townhall_{time.time_ns()}"
        path = self.work_dir / f"{name}.vcl"
        path.write_text(vcl)
        _share_with_varnish_group(self.work_dir, path)
        for command in (["vcl.load", name, str(path)], ["vcl.use", name]):
            self._admin(*command)
        previous, self._loaded, self.vcl = self._loaded, name, vcl
        with contextlib.suppress(EdgeError):  # still busy with in-flight requests: varnishd drops it later
            self._admin("vcl.discard", previous)

    def _admin(self, *command: str) -> str:
        result = subprocess.run(["varnishadm", "-n", self.name, *command], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise EdgeError(f"varnishadm {' '.join(command[:2])} failed: {result.stdout}{result.stderr}")
        return result.stdout

    @property
    def pid(self) -> int:
        """varnishd's manager process (its cache child is a child of it); 0 when not running."""
        return self._process.pid if self._process is not None else 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stats(self) -> dict[str, int]:
        """varnishd's counters (MAIN.cache_hit, MAIN.busy_sleep, ...) from `varnishstat -j`."""
        output = subprocess.run(
            ["varnishstat", "-n", self.name, "-j"], capture_output=True, timeout=10, check=True
        ).stdout
        counters = json.loads(output).get("counters", {})
        return {name: int(entry.get("value", 0)) for name, entry in counters.items()}

    async def astart(self, timeout_s: float = 30.0) -> Edge:
        return await asyncio.to_thread(self.start, timeout_s)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Edge:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Edge:
        return await self.astart()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()
