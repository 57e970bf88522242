"""The replay verbs. `townhall verify <replay>` checks a replay against its signed manifest, the platform's
public keys and heads captured live, wherever the replay is: its page or its files at a URL, a folder, or
a townhall data directory read offline. Says plainly "verified" or which segment was changed, dropped,
added or reordered (the rules are in domain/replay/verification.py) and never writes, nor prints a private key.
`townhall keep-heads` keeps the live chain heads a listener sees; `townhall rotate-replay-key` adds a
signing key.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from townhall.commands import Command, with_data_dir
from townhall.domain.ids import ID_PATTERN
from townhall.domain.objects import live_prefix, replay_prefix
from townhall.domain.replay import verification
from townhall.domain.replay.jwk import keys_from_jwks
from townhall.domain.replay.playlist import playlist_uris
from townhall.services.recording_keys import ReplayKeys
from townhall.settings import Settings

KEYS_PATH = "/.well-known/townhall/replay-keys.json"
PAGE_PATH = re.compile(r"^(?P<prefix>.*)/r/(?P<space>[A-Za-z0-9_-]{4,64})/?\Z")
# Served from where they were stored live (as the origin serves a replay); the rest from the replay's folder.
RECORDED = re.compile(r"^(init\.mp4|s\d{1,12}\.m4s)\Z")

SOURCES = """\
Check a published replay: its signature, hash chain and every segment. The replay is one of:
  http://host/r/<space>             its page, as `townhall demo` prints it
  http://host/replay/<space>/       its files (or their manifest.json or index.m3u8)
  <space>                           offline, from a data directory (--data-dir, default ./data):
                                    segments read where they are stored, public keys derived from
                                    the directory's key file (its public half only)
  <data dir>/blobs/replay/<space>   the same, by path
  <folder>                          a folder holding manifest.json, index.m3u8, init.mp4, s<n>.m4s

examples:
  %(prog)s http://127.0.0.1:8080/r/<space>
  %(prog)s --data-dir data/demo <space>     (offline: works after the server has stopped)
"""


def _args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = SOURCES
    p.add_argument("source", metavar="replay", help="a replay page or files URL, a space id, or a folder (see above)")
    p.add_argument("--data-dir", help="the data directory a <space> is read from (default: ./data)")
    p.add_argument("--commitments", help="chain heads captured live: JSON or JSON lines of {msn, head} or room states")
    p.add_argument(
        "--keys",
        help="the platform's public keys (JWK set), a file or URL; default: the replay's host, or the public "
        "half of the data directory's key file",
    )


def read_commitments(text: str) -> list[tuple[int, str]]:
    """Heads from a JSON list, {"heads": [...]}, or JSON lines; each item {msn, head} or a room state."""
    text = text.strip()
    try:
        doc = json.loads(text)
        items = doc.get("heads", [doc]) if isinstance(doc, dict) else doc
    except ValueError:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    heads: list[tuple[int, str]] = []
    for item in items:
        entry = item.get("chain", item) if isinstance(item, dict) else None
        if isinstance(entry, dict) and "msn" in entry and "head" in entry:
            heads.append((int(entry["msn"]), str(entry["head"])))
    return heads


@dataclass(frozen=True)
class Stored:
    """A published replay as the service stores it on disk: the replay's folder (playlist, manifest,
    download), its init section and segments where they were recorded live, and the data directory's keys."""

    folder: Path
    recorded: Path
    keys_file: Path | None

    @classmethod
    def in_data_dir(cls, space_id: str, settings: Settings) -> Stored:
        """Space `space_id` in `settings.data_dir`, with its blobs where the service keeps them."""
        if settings.blob_url and not settings.blob_url.startswith("file://"):
            raise ValueError(f"the replay's files are in {settings.blob_url}: verify its URL instead")
        root = Path(settings.blob_url.removeprefix("file://")) if settings.blob_url else settings.data_dir / "blobs"
        return cls(root / replay_prefix(space_id), root / live_prefix(space_id), keys_file(settings))

    @classmethod
    def at(cls, folder: Path) -> Stored | None:
        """The replay folder of a data directory (`<data dir>/blobs/replay/<space>`), or None."""
        recorded = folder.parent.parent / "live" / folder.name
        if folder.parent.name != "replay" or (folder / "init.mp4").exists() or not recorded.is_dir():
            return None
        key_file = folder.parent.parent.parent / "replay-keys.json"
        return cls(folder, recorded, key_file if key_file.is_file() else None)


class Source:
    """A replay at a URL or on disk: reads its files and hashes them."""

    def __init__(self, where: str, client: httpx.Client, stored: Stored | None = None) -> None:
        self.remote = where.startswith(("http://", "https://"))
        self.client = client
        self.stored = stored
        if self.remote:
            where = replay_url(where)
            self.base = where if where.endswith("/") else where.rsplit("/", 1)[0] + "/"
            if not where.endswith((".m3u8", ".json", "/")):
                self.base = where + "/"
        else:
            self.folder = stored.folder if stored is not None else Path(where)

    def _path(self, name: str) -> Path:
        if self.stored is not None and RECORDED.match(name):
            return self.stored.recorded / name
        return self.folder / name

    def read(self, name: str) -> bytes | None:
        if "\\" in name or any(p in ("", "..") for p in name.split("/")):
            return None
        if self.remote:
            r = self.client.get(urljoin(self.base, name))
            return r.content if r.status_code == 200 else None
        path = self._path(name)
        return path.read_bytes() if path.is_file() else None

    def sha256(self, name: str) -> str | None:
        if self.remote:
            h = hashlib.sha256()
            with self.client.stream("GET", urljoin(self.base, name)) as r:
                if r.status_code != 200:
                    return None
                for chunk in r.iter_bytes():
                    h.update(chunk)
            return h.hexdigest()
        data = self.read(name)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def keys_url(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}{KEYS_PATH}"


def replay_url(where: str) -> str:
    """The replay's files for its page's URL (`/r/<space>`); any other URL unchanged."""
    parts = urlsplit(where)
    page = PAGE_PATH.match(parts.path)
    if page is None:
        return where
    return f"{parts.scheme}://{parts.netloc}{page['prefix']}/replay/{page['space']}/"


def keys_file(settings: Settings) -> Path:
    """The data directory's replay signing keys (private: only their public half is ever read here)."""
    return Path(settings.replay_keys_file) if settings.replay_keys_file else settings.data_dir / "replay-keys.json"


def public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The public half of each key in a key file; never writes it (an empty ring is an error, not a rotation)."""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or not doc.get("keys"):
        raise ValueError(f"{path} holds no replay keys")
    try:
        return keys_from_jwks(ReplayKeys(path).load(0).jwks())
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a replay key file") from exc


def load_keys(where: str, client: httpx.Client) -> dict[str, Ed25519PublicKey]:
    if where.startswith(("http://", "https://")):
        r = client.get(where)
        r.raise_for_status()
        return keys_from_jwks(r.json())
    return keys_from_jwks(json.loads(Path(where).read_text()))


def locate(source: str, settings: Settings | None) -> Stored | None:
    """Where on disk a replay named by `source` is stored, when it is in a data directory's layout: a
    data directory's replay folder, or (given `settings`) a space id that is not a folder here."""
    if source.startswith(("http://", "https://")):
        return None
    path = Path(source)
    if path.is_dir():
        return Stored.at(path.resolve())
    if settings is not None and ID_PATTERN.match(source):
        return Stored.in_data_dir(source, settings)
    return None


def check(
    source: str, commitments: str | None = None, keys: str | None = None, settings: Settings | None = None
) -> verification.Verdict:
    """Fetch and check a replay; every failure to fetch or read is a problem in the verdict, never a crash.
    `settings` name the data directory a space id is read from."""
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        try:
            stored = locate(source, settings)
            return _check(Source(source, client, stored), source, commitments, keys, client)
        except (OSError, httpx.HTTPError, ValueError) as exc:
            return verification.Verdict(problems=[f"the replay could not be checked: {exc}"])


def _keys_source(src: Source, payload: dict[str, object], keys: str | None) -> str:
    """Where the public keys come from: as given, the data directory's key file, or the replay's host."""
    if keys:
        return keys
    if src.stored is not None and src.stored.keys_file is not None:
        return str(src.stored.keys_file)
    return src.keys_url() if src.remote else str(payload.get("keys_url", ""))


def _public_keys(
    src: Source, payload: dict[str, object], keys: str | None, client: httpx.Client
) -> tuple[dict[str, Ed25519PublicKey], str]:
    """The keys to check the signature with, and where they came from (for the report)."""
    where = _keys_source(src, payload, keys)
    if not keys and src.stored is not None and src.stored.keys_file is not None:
        return public_keys(src.stored.keys_file), f"{where} (its public half)"
    return load_keys(where, client), where


def _check(
    src: Source, source: str, commitments: str | None, keys: str | None, client: httpx.Client
) -> verification.Verdict:
    manifest = src.read("manifest.json")
    playlist = src.read("index.m3u8")
    if manifest is None or playlist is None:
        where = f" (looked in {src.stored.folder})" if src.stored is not None else ""
        return verification.Verdict(problems=[f"no replay at {source}{where}: manifest.json or index.m3u8 is missing"])
    try:
        payload, _ = verification.parse_signed(manifest)
    except ValueError as exc:
        return verification.Verdict(problems=[f"the manifest cannot be read: {exc}"])
    text = playlist.decode("utf-8", "replace")
    files = payload.get("files")
    names = dict.fromkeys([*playlist_uris(text), *(files if isinstance(files, dict) else {})])
    hashes = {name: src.sha256(name) for name in names}
    try:
        public, keys_from = _public_keys(src, payload, keys, client)
    except (OSError, httpx.HTTPError, ValueError) as exc:
        wanted = _keys_source(src, payload, keys)
        return verification.Verdict(problems=[f"the platform's public keys could not be read from {wanted!r}: {exc}"])
    heads = read_commitments(Path(commitments).read_text()) if commitments else None
    verdict = verification.verify(manifest, text, hashes, public, heads)
    if src.stored is not None:
        verdict.facts.append(f"read offline from {src.stored.folder} (segments from {src.stored.recorded})")
    verdict.facts.append(f"public keys from {keys_from}")
    if heads is None:
        verdict.facts.append("no heads captured live were given (--commitments): checked against the signature only")
    return verdict


async def verify(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_data_dir(args, settings)
    verdict = await asyncio.to_thread(check, args.source, args.commitments, args.keys, settings)
    print(verdict.text(), flush=True)
    return 0 if verdict.verified else 1


def _rotate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir")


async def rotate_replay_key(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_data_dir(args, settings)
    keys = ReplayKeys(keys_file(settings)).load(time.time())
    fresh = keys.rotate(time.time())
    print(f"replay manifests are now signed by {fresh.kid}; {len(keys.ring) - 1} earlier key(s) stay published")
    return 0


def _keep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("state_url", help="the space's room state, e.g. https://host/live/<space>/state.json")
    p.add_argument("--out", required=True, help="file to append the heads to (JSON lines), for verify --commitments")
    p.add_argument("--seconds", type=float, default=6 * 3600, help="stop after this long (default: six hours)")


def keep_heads(state_url: str, out: Path, seconds: float, every_s: float = 1.0) -> int:
    """Poll the room state and append each new chain head to `out` until the space ends; the count kept."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10, follow_redirects=True) as client, out.open("a") as f:
        while time.monotonic() < deadline:
            try:
                doc = client.get(state_url).json()
            except (httpx.HTTPError, ValueError):
                doc = {}
            head = doc.get("chain") if isinstance(doc, dict) else None
            if isinstance(head, dict) and isinstance(head.get("msn"), int) and head["msn"] not in seen:
                seen.add(head["msn"])
                f.write(json.dumps({"msn": head["msn"], "head": head.get("head")}) + "\n")
                f.flush()
            if isinstance(doc, dict) and isinstance(doc.get("space"), dict) and doc["space"].get("state") == "ended":
                break
            time.sleep(every_s)
    return len(seen)


async def keep_heads_verb(args: argparse.Namespace, settings: Settings) -> int:
    kept = await asyncio.to_thread(keep_heads, args.state_url, Path(args.out), args.seconds)
    print(
        f"kept {kept} chain head(s) in {args.out}; check the replay with: townhall verify <replay URL> "
        f"--commitments {args.out}",
        flush=True,
    )
    return 0


VERIFY = Command(
    "verify",
    "check a published replay: verified, or which segment was changed, dropped, added or reordered",
    verify,
    _args,
)
ROTATE_REPLAY_KEY = Command(
    "rotate-replay-key",
    "add a replay signing key (older keys stay published); restart to use it",
    rotate_replay_key,
    _rotate_args,
)
KEEP_HEADS = Command(
    "keep-heads",
    "while listening, keep the live chain heads of a space to verify its replay later",
    keep_heads_verb,
    _keep_args,
)
