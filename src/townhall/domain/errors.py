"""One hierarchy of errors a user can act on; api/errors.py maps each kind to HTTP once.

Every error carries a stable machine `code` and a human message; never a stack trace.
"""

from __future__ import annotations


class TownhallError(Exception):
    """Base of every error a client may cause. Subclasses fix the kind; `code` is stable."""

    kind = "invalid"

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Invalid(TownhallError):
    """The request is malformed or breaks a limit (400 / 413 / 422)."""

    kind = "invalid"


class TooLarge(TownhallError):
    kind = "too_large"


class UnsupportedMediaType(TownhallError):
    """The body is not in a format this endpoint takes (415)."""

    kind = "unsupported_media_type"


class Unauthenticated(TownhallError):
    """No valid credentials (401)."""

    kind = "unauthenticated"


class Forbidden(TownhallError):
    """Authenticated but not allowed (403)."""

    kind = "forbidden"


class NotFound(TownhallError):
    kind = "not_found"


class Conflict(TownhallError):
    """The resource is in a state that does not allow this (409)."""

    kind = "conflict"


class Gone(TownhallError):
    """The resource existed and has ended (410)."""

    kind = "gone"


class RateLimited(TownhallError):
    kind = "rate_limited"

    def __init__(self, code: str, message: str, retry_after: float = 1.0, **details: object) -> None:
        super().__init__(code, message, **details)
        self.retry_after = retry_after


class LegallyWithheld(TownhallError):
    """Withheld in the requester's country (451, RFC 7725)."""

    kind = "legally_withheld"


class Unavailable(TownhallError):
    """A dependency is down; retry later (503, with Retry-After when `retry_after` is known)."""

    kind = "unavailable"

    def __init__(self, code: str, message: str, retry_after: float | None = None, **details: object) -> None:
        super().__init__(code, message, **details)
        self.retry_after = retry_after
