"""The listener token as the edge sees it: the VCL regex of decision 0001 and the keys as VCL strings.

Never signs or verifies here: townhall.domain.tokens owns the format; this only restates it for VCL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from townhall.domain.tokens import FIELD, VERSION, Scope

# kid, space and subject are FIELDs (townhall.domain.tokens.sign refuses anything else).
_ID = FIELD.pattern.removeprefix("^").removesuffix(r"\Z")
# v1.<kid>.<scope>.<space>.<subject>.<exp>.<flags>.<sig>
TOKEN_REGEX = rf"^{VERSION}\.{_ID}\.[a-z]\.{_ID}\.{_ID}\.[0-9]{{1,12}}\.[0b]\.[0-9a-f]{{64}}$"
LISTEN_SCOPE = Scope.LISTEN.value
# The tokens whose requests the edge sends to the staff lane: a session's, a speaker's (WHIP).
STAFF_SCOPES = f"[{Scope.SESSION.value}{Scope.SPEAK.value}]"

# A key is handed to vmod-digest as a VCL string, so it must be printable and quote-free.
_VCL_KEY = re.compile(r"^[A-Za-z0-9_-]{16,256}\Z")


def vcl_key(kid: str, key: bytes) -> str:
    """The key as the VCL string vmod-digest uses: the same bytes townhall.domain.tokens signs with."""
    text = key.decode("ascii", errors="replace")
    if not FIELD.match(kid) or not _VCL_KEY.match(text):
        raise ValueError(
            f"token key {kid!r} cannot be checked at the edge: kids must be 1 to 64 of [A-Za-z0-9_-] "
            "and keys 16 to 256 of them (the hex text of TOWNHALL_TOKEN_KEYS, as ASCII)"
        )
    return text


def key_branches(keys: Mapping[str, bytes], unknown: str = 'return (synth(403, "token_unknown_key"));') -> str:
    """VCL setting X-TH-Mac to the HMAC of X-TH-Body under the key the token's kid names; an unknown kid
    runs `unknown` (by default a 403 of its own)."""
    if not keys:
        return f"    {unknown}"
    lines = []
    for i, (kid, key) in enumerate(keys.items()):
        word = "if" if i == 0 else "} elsif"
        lines.append(f'    {word} (req.http.X-TH-Token ~ "^{VERSION}\\.{kid}\\.") {{')
        lines.append(f'        set req.http.X-TH-Mac = digest.hmac_sha256("{vcl_key(kid, key)}", req.http.X-TH-Body);')
    lines.append("    } else {")
    lines.append(f"        {unknown}")
    lines.append("    }")
    return "\n".join(lines)
