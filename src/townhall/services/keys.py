"""Token keys: parsed from settings, or generated into the data directory on first run.

Never commits or logs a key. Several keys may be valid at once (rotation); the first one signs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from townhall.domain.tokens import FIELD

HEX = re.compile(r"^[0-9a-fA-F]+\Z")


@dataclass(frozen=True)
class TokenKeys:
    keys: dict[str, bytes]
    signing_kid: str

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.signing_kid]

    def as_setting(self) -> str:
        """The TOWNHALL_TOKEN_KEYS form, for handing the same keys to the edge."""
        ordered = [self.signing_kid, *(k for k in self.keys if k != self.signing_kid)]
        return ",".join(f"{kid}:{self.keys[kid].decode('ascii')}" for kid in ordered)


def parse_keys(text: str) -> TokenKeys:
    pairs: list[tuple[str, bytes]] = []
    for item in text.split(","):
        kid, _, hexkey = item.strip().partition(":")
        if not FIELD.match(kid) or len(hexkey) < 32 or not HEX.match(hexkey):
            raise ValueError("TOWNHALL_TOKEN_KEYS must be kid:hexkey[,kid:hexkey], keys of 16 bytes or more")
        # The HMAC key is the hex text itself (ASCII): the edge's vmod-digest takes keys as VCL
        # strings, which cannot carry arbitrary bytes (decision 0001).
        pairs.append((kid, hexkey.lower().encode("ascii")))
    return TokenKeys(dict(pairs), pairs[0][0])


def _fresh_secrets() -> dict[str, str]:
    return {
        "token_keys": f"k{secrets.token_hex(2)}:{secrets.token_hex(32)}",
        # What the edge proves itself to the origin with when it fetches live media for everyone.
        "edge_secret": secrets.token_urlsafe(32),
    }


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """The data directory's secrets file, created with fresh random values when absent; a secret
    added since the file was made is generated into it (the others are kept)."""
    path = data_dir / "secrets.json"
    loaded: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {**_fresh_secrets(), **loaded}
    if wanted == loaded:
        return loaded
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(wanted, f)
    os.replace(tmp, path)
    return wanted
