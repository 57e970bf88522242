"""The listener's country: from the configured header when the peer may set it, else from a GeoIP2
Country database (a real .mmdb written for the test); a spoofed header from an untrusted peer is ignored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.api import live_space
from tests.trust.conftest import Clock, _app, staff_maker, trust_settings
from tests.trust.support import ILLEGAL, decide
from townhall.trust.geo import CountryLookup, clean

GERMAN, FRENCH, PROXY = "203.0.113.7", "198.51.100.1", "10.9.9.9"


@pytest.fixture
def country_db(tmp_path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "FR"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))
    return path


def test_header_then_database_then_unknown(country_db: Path) -> None:
    everyone = CountryLookup("X-Country-Code")
    assert everyone.country({"x-country-code": "de"}, "1.2.3.4") == "DE"
    assert everyone.country({"x-country-code": "XX"}, "1.2.3.4") is None  # unknown is not a country
    assert clean("T1") is None and clean("DEU") is None
    strict = CountryLookup("X-Country-Code", PROXY, str(country_db))
    assert strict.country({"x-country-code": "FR"}, GERMAN) == "DE"  # untrusted peer: header ignored
    assert strict.country({"x-country-code": "FR"}, PROXY) == "FR"
    assert strict.country({}, FRENCH) == "FR"
    assert strict.country({}, "192.0.2.1") is None
    strict.close()


async def test_join_uses_the_geoip_database_when_configured(tmp_path: Path, clock: Clock, country_db: Path) -> None:
    settings = trust_settings(tmp_path, geoip_database=str(country_db), geo_trusted_proxies=PROXY)
    async for application in _app(settings, clock):

        def client(peer: str, app: object = application) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(peer, 50000))  # type: ignore[arg-type]
            return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10)

        async with client(PROXY) as c, client(GERMAN) as de, client(FRENCH) as fr:
            staff = staff_maker(c, application)
            host, moderator = await staff(), await staff("moderator")
            space = await live_space(c, host)
            await decide(
                c, moderator, action="withhold", target_kind="space", target_id=space["id"], countries=["DE"], **ILLEGAL
            )
            path = f"/api/spaces/{space['id']}/join"
            spoofed = await de.post(path, json={"device_id": "device-geo-0001"}, headers={"X-Country-Code": "FR"})
            assert spoofed.status_code == 451
            assert (await fr.post(path, json={"device_id": "device-geo-0002"})).status_code == 200
            via_proxy = await c.post(path, json={"device_id": "device-geo-0003"}, headers={"X-Country-Code": "DE"})
            assert via_proxy.status_code == 451
            assert (await de.get(f"/live/{space['id']}/state.json")).status_code == 451
