"""Identifiers: their shape and validation. Generation takes randomness as a parameter.

Ids travel in URLs, tokens and VCL regexes, so they use only [A-Za-z0-9_-].
"""

from __future__ import annotations

import base64
import re

from townhall.domain.errors import Invalid

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{4,64}\Z")
HANDLE_PATTERN = re.compile(r"^[a-z0-9_]{3,30}\Z")
DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise Invalid(f"invalid_{what}", f"{what} must be 4 to 64 characters of A-Z, a-z, 0-9, _ or -")
    return value


def check_handle(value: str) -> str:
    if not isinstance(value, str) or not HANDLE_PATTERN.match(value):
        raise Invalid("invalid_handle", "handle must be 3 to 30 characters of a-z, 0-9 or _")
    return value


def check_device(value: str) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.match(value):
        raise Invalid("invalid_device_id", "device id must be 8 to 64 characters of A-Z, a-z, 0-9, _ or -")
    return value


def id_from_bytes(raw: bytes) -> str:
    """A url-safe id from random bytes supplied by the caller: 4 characters per 3 bytes (the services pass
    12 bytes, so 16 characters)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
