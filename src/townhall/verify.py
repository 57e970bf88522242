"""The replay verbs. `townhall verify <replay URL or folder> [--commitments file] [--keys file or URL]`
fetches a replay and checks it against its signed manifest, the platform's public keys and heads
captured live; says plainly "verified" or which segment was changed, dropped, added or reordered (the
rules are in domain/replay.py) and never writes. `townhall keep-heads` keeps the live chain heads a
listener sees; `townhall rotate-replay-key` adds a signing key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from townhall.cli import verb
from townhall.domain import replay
from townhall.settings import Settings

KEYS_PATH = "/.well-known/townhall/replay-keys.json"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="replay URL (e.g. https://host/replay/<space>/) or a folder holding its files")
    p.add_argument("--commitments", help="chain heads captured live: JSON or JSON lines of {msn, head} or room states")
    p.add_argument("--keys", help="the platform's public keys (JWK set), a file or URL; default: the replay's host")


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


class Source:
    """A replay in a folder or at a URL: reads its files and hashes them."""

    def __init__(self, where: str, client: httpx.Client) -> None:
        self.remote = where.startswith(("http://", "https://"))
        self.client = client
        if self.remote:
            self.base = where if where.endswith("/") else where.rsplit("/", 1)[0] + "/"
            if not where.endswith((".m3u8", ".json", "/")):
                self.base = where + "/"
        else:
            self.folder = Path(where)

    def read(self, name: str) -> bytes | None:
        if "\\" in name or any(p in ("", "..") for p in name.split("/")):
            return None
        if self.remote:
            r = self.client.get(urljoin(self.base, name))
            return r.content if r.status_code == 200 else None
        path = self.folder / name
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


def load_keys(where: str, client: httpx.Client) -> dict[str, Ed25519PublicKey]:
    if where.startswith(("http://", "https://")):
        r = client.get(where)
        r.raise_for_status()
        return replay.keys_from_jwks(r.json())
    return replay.keys_from_jwks(json.loads(Path(where).read_text()))


def check(source: str, commitments: str | None = None, keys: str | None = None) -> replay.Verdict:
    """Fetch and check a replay; every failure to fetch or read is a problem in the verdict, never a crash."""
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        try:
            return _check(Source(source, client), source, commitments, keys, client)
        except (OSError, httpx.HTTPError, ValueError) as exc:
            return replay.Verdict(problems=[f"the replay could not be checked: {exc}"])


def _check(src: Source, source: str, commitments: str | None, keys: str | None, client: httpx.Client) -> replay.Verdict:
    manifest = src.read("manifest.json")
    playlist = src.read("index.m3u8")
    if manifest is None or playlist is None:
        return replay.Verdict(problems=[f"no replay at {source}: manifest.json or index.m3u8 is missing"])
    try:
        payload, _ = replay.parse_signed(manifest)
    except ValueError as exc:
        return replay.Verdict(problems=[f"the manifest cannot be read: {exc}"])
    text = playlist.decode("utf-8", "replace")
    files = payload.get("files")
    names = dict.fromkeys([*replay.playlist_uris(text), *(files if isinstance(files, dict) else {})])
    hashes = {name: src.sha256(name) for name in names}
    keys_from = keys or (src.keys_url() if src.remote else str(payload.get("keys_url", "")))
    try:
        public = load_keys(keys_from, client)
    except (OSError, httpx.HTTPError, ValueError) as exc:
        return replay.Verdict(problems=[f"the platform's public keys could not be read from {keys_from!r}: {exc}"])
    heads = read_commitments(Path(commitments).read_text()) if commitments else None
    verdict = replay.verify(manifest, text, hashes, public, heads)
    verdict.facts.append(f"public keys from {keys_from}")
    if heads is None:
        verdict.facts.append("no heads captured live were given (--commitments): checked against the signature only")
    return verdict


@verb("verify", "check a published replay: verified, or which segment was changed, dropped, added or reordered", _args)
async def verify(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    verdict = await asyncio.to_thread(check, args.source, args.commitments, args.keys)
    print(verdict.text(), flush=True)
    return 0 if verdict.verified else 1


def _rotate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir")


@verb("rotate-replay-key", "add a replay signing key (older keys stay published); restart to use it", _rotate_args)
async def rotate_replay_key(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from townhall.services.recording_keys import ReplayKeys

    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    path = Path(settings.replay_keys_file) if settings.replay_keys_file else data_dir / "replay-keys.json"
    keys = ReplayKeys(path).load(time.time())
    fresh = keys.rotate(time.time())
    print(f"replay manifests are now signed by {fresh.kid}; {len(keys.ring) - 1} earlier key(s) stay published")
    return 0


def _keep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("state_url", help="the space's room state, e.g. https://host/live/<space>/state.json")
    p.add_argument("--out", required=True, help="file to append the heads to (JSON lines), for verify --commitments")
    p.add_argument("--seconds", type=float, default=6 * 3600, help="stop after this long (default: six hours)")


def keep_heads(state_url: str, out: Path, seconds: float, every_s: float = 1.0) -> int:
    """Poll the room state and append each new chain head to `out` until the space ends; the count kept."""
    import time

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


@verb("keep-heads", "while listening, keep the live chain heads of a space to verify its replay later", _keep_args)
async def keep_heads_verb(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    kept = await asyncio.to_thread(keep_heads, args.state_url, Path(args.out), args.seconds)
    print(
        f"kept {kept} chain head(s) in {args.out}; check the replay with: townhall verify <replay URL> "
        f"--commitments {args.out}",
        flush=True,
    )
    return 0
