"""The platform's replay keys as JSON Web Keys (RFC 8037): published, and read back to verify."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from townhall.domain.replay.manifest import b64url, unb64url


def public_jwk(kid: str, key: Ed25519PublicKey, status: str) -> dict[str, str]:
    """An Ed25519 public key as a JWK (RFC 8037)."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": b64url(raw),
        "status": status,
    }


def keys_from_jwks(doc: object) -> dict[str, Ed25519PublicKey]:
    """Public keys by kid from a JWK set ({"keys": [...]}); entries that are not Ed25519 are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    entries = doc.get("keys") if isinstance(doc, dict) else None
    for jwk in entries if isinstance(entries, list) else []:
        if isinstance(jwk, dict) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            try:
                keys[str(jwk["kid"])] = Ed25519PublicKey.from_public_bytes(unb64url(str(jwk["x"])))
            except (KeyError, ValueError):
                continue
    return keys
