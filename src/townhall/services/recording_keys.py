"""Secrets of recording and counting: the Ed25519 keys that sign replay manifests (with rotation: the
newest signs, older ones stay published so old replays still verify) and the viewer-key HMAC secret.

Kept in files in the data directory (mode 0600), never in the repository and never logged.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from townhall.domain.replay.jwk import public_jwk
from townhall.domain.replay.manifest import b64url, unb64url


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: Ed25519PrivateKey
    created_at: float


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ReplayKeys:
    """The key ring in one JSON file; the last key signs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ring: list[SigningKey] = []

    def load(self, now: float) -> ReplayKeys:
        if self.path.exists():
            doc = json.loads(self.path.read_text())
            self.ring = [
                SigningKey(k["kid"], Ed25519PrivateKey.from_private_bytes(unb64url(k["d"])), k["created_at"])
                for k in doc["keys"]
            ]
        if not self.ring:
            self.rotate(now)
        return self

    def rotate(self, now: float) -> SigningKey:
        """Add a new signing key; earlier keys stay published for verifying earlier replays."""
        fresh = SigningKey(f"rk{secrets.token_hex(4)}", Ed25519PrivateKey.generate(), now)
        self.ring.append(fresh)
        doc = {
            "keys": [
                {
                    "kid": k.kid,
                    "created_at": k.created_at,
                    "d": b64url(k.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())),
                }
                for k in self.ring
            ]
        }
        _write_secret(self.path, json.dumps(doc))
        return fresh

    @property
    def signing(self) -> SigningKey:
        return self.ring[-1]

    def jwks(self) -> dict[str, object]:
        """The public JWK set served at the well-known URL."""
        keys = [public_jwk(k.kid, k.key.public_key(), "active" if k is self.signing else "retired") for k in self.ring]
        return {"keys": keys}


def viewer_secret(setting: str, data_dir: Path) -> bytes:
    """The viewer-key HMAC secret: from settings, else generated into the data directory."""
    if setting:
        return bytes.fromhex(setting)
    path = data_dir / "viewer-key.hex"
    if not path.exists():
        _write_secret(path, secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())
