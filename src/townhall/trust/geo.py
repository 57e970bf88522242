"""The country a request comes from: the configured header (set by the edge or CDN) when the peer is
trusted, else a GeoIP2/GeoLite2 Country database when one is configured (maxminddb, optional).
Never uses a user's profile country; `XX` (unknown) and `T1` (Tor) are not countries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

NOT_COUNTRIES = frozenset({"XX", "T1", "ZZ"})


def clean(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES else None


class CountryLookup:
    def __init__(self, header: str, trusted_proxies: str = "", database: str = "") -> None:
        self.header = header.lower()
        self.trusted = frozenset(p.strip() for p in trusted_proxies.split(",") if p.strip())
        self.reader: Any = None
        if database:
            import maxminddb  # optional: pip install townhall[geoip]

            self.reader = maxminddb.open_database(database)

    @property
    def rewrites(self) -> bool:
        """Whether requests need looking at all (otherwise the header is taken as it comes)."""
        return bool(self.trusted) or self.reader is not None

    def from_database(self, address: str) -> str | None:
        if self.reader is None:
            return None
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return None
        record = self.reader.get(address) or {}
        country = record.get("country") or record.get("registered_country") or {}
        return clean(country.get("iso_code"))

    def country(self, headers: Mapping[str, str], peer: str) -> str | None:
        """The header when the peer may set it, else the database, else unknown (None)."""
        if not self.trusted or peer in self.trusted:
            from_header = clean(headers.get(self.header))
            if from_header is not None:
                return from_header
        return self.from_database(peer)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
