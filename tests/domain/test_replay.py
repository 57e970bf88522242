"""The replay's hash chain, gap records, signed manifest and verification, on synthetic segments."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from townhall.domain import replay as r

SPACE = "space_0001"
SEG = 96_000  # two seconds at 48 kHz


def _links(n: int, skip: tuple[int, ...] = (), restart_at: int | None = None) -> tuple[list[r.Link], dict[str, bytes]]:
    links: list[r.Link] = []
    files: dict[str, bytes] = {}
    prev = None
    pdt = 1_700_000_000_000
    for msn in range(n):
        if msn in skip:
            pdt += 2000
            continue
        if msn == restart_at:
            pdt += 30_000
        data = f"segment {msn} audio".encode() * 10
        prev = r.extend(
            prev,
            SPACE,
            msn=msn,
            media_time=msn * SEG,
            duration=SEG,
            sha256=hashlib.sha256(data).hexdigest(),
            uri=f"s{msn}.m4s",
            program_date_time_ms=pdt,
        )
        links.append(prev)
        files[prev.uri] = data
        pdt += 2000
    return links, files


def _published(
    n: int = 6, key: Ed25519PrivateKey | None = None, kid: str = "rk1", skip: tuple[int, ...] = ()
) -> dict[str, object]:
    key = key or Ed25519PrivateKey.generate()
    links, files = _links(n, skip)
    gaps = r.find_gaps(links)
    files["init.mp4"] = b"init"
    payload = r.build_manifest(SPACE, links, gaps, {"init.mp4": hashlib.sha256(b"init").hexdigest()}, 1, "k")
    return {
        "manifest": r.sign_manifest(payload, kid, key),
        "playlist": r.vod_playlist(links, gaps),
        "files": files,
        "keys": {kid: key.public_key()},
        "links": links,
    }


def _verify(p: dict[str, object], commitments: list[tuple[int, str]] | None = None) -> r.Verdict:
    files = p["files"]
    assert isinstance(files, dict)
    hashes = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    return r.verify(p["manifest"], p["playlist"], hashes, p["keys"], commitments)  # type: ignore[arg-type]


def test_each_link_commits_to_previous_head_hash_index_and_media_time() -> None:
    h = "ab" * 32
    first = r.next_head(r.genesis(SPACE), h, 0, 0)
    assert (
        first
        == hashlib.sha256(
            bytes.fromhex(r.genesis(SPACE)) + bytes.fromhex(h) + (0).to_bytes(8, "big") + (0).to_bytes(8, "big")
        ).hexdigest()
    )
    assert r.next_head(first, h, 1, SEG) != r.next_head(first, h, 2, SEG)
    assert r.next_head(first, h, 1, SEG) != r.next_head(first, h, 1, SEG + 1)
    assert r.genesis(SPACE) != r.genesis("space_0002")


def test_segments_must_arrive_in_order() -> None:
    links, _ = _links(3)
    with pytest.raises(ValueError):
        r.extend(links[-1], SPACE, msn=1, media_time=0, duration=SEG, sha256="00" * 32, uri="x", program_date_time_ms=0)


def test_missing_segments_and_restarts_are_recorded_as_gaps() -> None:
    links, _ = _links(8, skip=(3,), restart_at=6)
    gaps = r.find_gaps(links)
    assert [(g.after_msn, g.before_msn, g.missing) for g in gaps] == [(2, 4, (3,)), (5, 6, ())]
    assert gaps[1].seconds == pytest.approx(30.0)
    text = r.vod_playlist(links, gaps)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-GAP\n#EXTINF:2.00000,\ns3.m4s\n#EXT-X-DISCONTINUITY" in text
    assert text.count("#EXT-X-DISCONTINUITY") == 2
    assert "s3.m4s" not in r.playlist_uris(text)


def test_untouched_replay_is_verified() -> None:
    v = _verify(_published())
    assert v.verified, v.text()
    assert v.text().startswith("verified")


def test_replay_whose_first_segment_was_never_stored_is_verified_with_its_opening_gap() -> None:
    # a media node died before finishing segment 0; the node that took over began at segment 1
    published = _published(skip=(0,))
    manifest = json.loads(published["manifest"])  # type: ignore[arg-type]
    assert manifest["payload"]["gaps"][0]["missing"] == [0]
    verdict = _verify(published)
    assert verdict.verified, verdict.problems


def test_one_flipped_byte_names_the_changed_segment() -> None:
    p = _published()
    files = p["files"]
    assert isinstance(files, dict)
    data = bytearray(files["s3.m4s"])
    data[5] ^= 1
    files["s3.m4s"] = bytes(data)
    v = _verify(p)
    assert not v.verified
    assert v.problems == [v.problems[0]] and v.problems[0].startswith("segment 3 (s3.m4s) was changed")


def test_dropped_segment_is_named() -> None:
    p = _published()
    p["playlist"] = str(p["playlist"]).replace("#EXTINF:2.00000,\ns2.m4s\n", "")
    v = _verify(p)
    assert [x.split(":")[0] for x in v.problems] == ["segment 2 (s2.m4s) was dropped"]


def test_duplicated_segment_is_named_as_added() -> None:
    p = _published()
    p["playlist"] = str(p["playlist"]).replace("s4.m4s\n", "s4.m4s\n#EXTINF:2.00000,\ns4.m4s\n")
    v = _verify(p)
    assert [x.split(":")[0] for x in v.problems] == ["segment 4 (s4.m4s) was added"]
    assert "2 times" in v.problems[0]


def test_reordered_segments_are_named() -> None:
    p = _published()
    p["playlist"] = str(p["playlist"]).replace("s2.m4s", "TMP").replace("s3.m4s", "s2.m4s").replace("TMP", "s3.m4s")
    v = _verify(p)
    assert len(v.problems) == 1 and "was reordered" in v.problems[0]
    assert v.problems[0].startswith(("segment 3 (s3.m4s)", "segment 2 (s2.m4s)"))


def test_swapped_contents_under_the_same_names_are_reordered() -> None:
    p = _published()
    files = p["files"]
    assert isinstance(files, dict)
    files["s1.m4s"], files["s2.m4s"] = files["s2.m4s"], files["s1.m4s"]
    v = _verify(p)
    assert len(v.problems) == 1 and "was reordered" in v.problems[0]


def test_unknown_segment_is_named_as_added() -> None:
    p = _published()
    files = p["files"]
    assert isinstance(files, dict)
    files["evil.m4s"] = b"inserted"
    p["playlist"] = str(p["playlist"]).replace("s1.m4s\n", "s1.m4s\n#EXTINF:2.00000,\nevil.m4s\n")
    v = _verify(p)
    assert v.problems == ["a segment that is not in the signed manifest was added: evil.m4s at position 2"]


def test_forged_signature_is_detected() -> None:
    p = _published()
    doc = json.loads(p["manifest"])  # type: ignore[arg-type]
    doc["payload"]["segments"][1]["sha256"] = "00" * 32
    p["manifest"] = json.dumps(doc).encode()
    v = _verify(p)
    assert v.problems[0] == "the manifest signature does not verify under key 'rk1': the manifest was altered or forged"


def test_manifest_signed_with_a_swapped_key_is_detected() -> None:
    p = _published()
    doc = json.loads(p["manifest"])  # type: ignore[arg-type]
    p["manifest"] = r.sign_manifest(doc["payload"], "evil", Ed25519PrivateKey.generate())
    v = _verify(p)
    assert v.problems == [
        "the manifest is signed by key 'evil', which is not among the platform's published keys (rk1)"
    ]
    # the same kid with another key fails the signature itself
    p["manifest"] = r.sign_manifest(doc["payload"], "rk1", Ed25519PrivateKey.generate())
    assert "does not verify under key 'rk1'" in _verify(p).problems[0]


def test_old_keys_still_verify_after_rotation() -> None:
    old = Ed25519PrivateKey.generate()
    p = _published(key=old, kid="rk0")
    p["keys"] = {"rk0": old.public_key(), "rk1": Ed25519PrivateKey.generate().public_key()}
    assert _verify(p).verified


def test_heads_captured_live_are_matched() -> None:
    p = _published()
    links = p["links"]
    assert isinstance(links, list)
    heads = [(x.msn, x.head) for x in links[:4]]
    v = _verify(p, heads)
    assert v.verified and "matches all 4 chain heads captured live" in v.text()


def test_replay_re_signed_by_the_platform_after_an_edit_fails_the_live_heads() -> None:
    key = Ed25519PrivateKey.generate()
    honest = _published(key=key)
    links = honest["links"]
    assert isinstance(links, list)
    captured = [(x.msn, x.head) for x in links]
    # the platform itself drops segment 2 and re-signs a consistent manifest
    kept = [x for x in links if x.msn != 2]
    rebuilt: list[r.Link] = []
    prev = None
    for x in kept:
        prev = r.extend(
            prev,
            SPACE,
            msn=x.msn,
            media_time=x.media_time,
            duration=x.duration,
            sha256=x.sha256,
            uri=x.uri,
            program_date_time_ms=x.program_date_time_ms,
        )
        rebuilt.append(prev)
    gaps = r.find_gaps(rebuilt)
    payload = r.build_manifest(SPACE, rebuilt, gaps, {"init.mp4": hashlib.sha256(b"init").hexdigest()}, 1, "k")
    edited = {**honest, "manifest": r.sign_manifest(payload, "rk1", key), "playlist": r.vod_playlist(rebuilt, gaps)}
    assert _verify(edited).verified  # signed and consistent, but...
    v = _verify(edited, captured)
    assert v.problems == ["segment 2 was dropped: a head was captured live for it but the replay has no such segment"]


def test_manifest_with_a_hidden_gap_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    links, files = _links(5, skip=(2,))
    payload = r.build_manifest(SPACE, links, [], {}, 1, "k")
    p = {
        "manifest": r.sign_manifest(payload, "rk1", key),
        "playlist": r.vod_playlist(links, []),
        "files": files,
        "keys": {"rk1": key.public_key()},
    }
    assert _verify(p).problems == ["the manifest's gap records do not match its segments"]


def test_jwks_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    keys = r.keys_from_jwks({"keys": [r.public_jwk("rk1", key.public_key(), "active"), {"kty": "RSA"}]})
    assert list(keys) == ["rk1"]
