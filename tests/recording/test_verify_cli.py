"""`townhall verify` on a replay folder the service published: untouched it is verified; each kind of
tampering (flipped byte, dropped, duplicated, reordered segment, forged signature, swapped key) is named.
The same replay is found by its page's URL, and offline in the data directory the service left behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.recording.conftest import ended_space, export, feed, running_app
from tests.support.servers import LiveServer
from townhall.cli import main
from townhall.domain.replay.manifest import sign_manifest
from townhall.domain.replay.verification import parse_signed
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def backend() -> str:  # the folder is the same whichever state store published it
    return "memory"


@pytest.fixture
async def folder(rec_app: Any, tmp_path: Path) -> Path:
    rt = rec_app.state.runtime
    await feed(rt, "sp_verify")
    await rt.recording.replay.ended(ended_space("sp_verify"))
    for task in list(rt.recording.replay._tasks):
        await task
    out = export(Path(rt.blobs.root), "sp_verify", tmp_path / "replay")
    (tmp_path / "keys.json").write_text(json.dumps(rt.recording.keys.jwks()))
    return out


def _verify(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(folder), "--keys", str(folder.parent / "keys.json"), *extra])
    return code, capsys.readouterr().out


def test_untampered_folder_is_verified(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(folder, capsys)
    assert code == 0 and out.startswith("verified"), out


def test_flipped_byte_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray((folder / "s3.m4s").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "s3.m4s").write_bytes(bytes(data))
    code, out = _verify(folder, capsys)
    assert code == 1 and "segment 3 (s3.m4s) was changed" in out, out


def test_dropped_segment_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (folder / "index.m3u8").read_text()
    lines = text.splitlines()
    i = lines.index("s2.m4s")
    (folder / "index.m3u8").write_text("\n".join(lines[: i - 1] + lines[i + 1 :]) + "\n")
    code, out = _verify(folder, capsys)
    assert code == 1 and "segment 2 (s2.m4s) was dropped" in out, out


def test_duplicated_segment_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (folder / "index.m3u8").read_text().replace("s4.m4s\n", "s4.m4s\n#EXTINF:1.92000,\ns4.m4s\n")
    (folder / "index.m3u8").write_text(text)
    code, out = _verify(folder, capsys)
    assert code == 1 and "segment 4 (s4.m4s) was added: the replay plays it 2 times" in out, out


def test_reordered_segments_are_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = (folder / "s1.m4s").read_bytes(), (folder / "s2.m4s").read_bytes()
    (folder / "s1.m4s").write_bytes(b)
    (folder / "s2.m4s").write_bytes(a)
    code, out = _verify(folder, capsys)
    assert code == 1 and "was reordered" in out, out


def test_forged_signature_is_detected(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((folder / "manifest.json").read_text())
    doc["payload"]["segments"][3]["sha256"] = hashlib.sha256(b"other audio").hexdigest()
    (folder / "manifest.json").write_text(json.dumps(doc))
    code, out = _verify(folder, capsys)
    assert code == 1 and "the manifest signature does not verify" in out, out


def test_swapped_key_is_detected(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    doc = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_bytes(sign_manifest(doc["payload"], "rk-attacker", Ed25519PrivateKey.generate()))
    code, out = _verify(folder, capsys)
    assert code == 1 and "signed by key 'rk-attacker', which is not among the platform's published keys" in out


def test_changed_download_is_detected(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "audio.m4a").write_bytes((folder / "audio.m4a").read_bytes() + b"\0")
    code, out = _verify(folder, capsys)
    assert code == 1 and "audio.m4a was changed" in out


def test_heads_captured_live_are_checked(folder: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload, _ = parse_signed((folder / "manifest.json").read_bytes())
    states = [{"space": {}, "chain": {"msn": s["msn"], "head": s["head"]}} for s in payload["segments"][:3]]
    good = tmp_path / "heads.jsonl"
    good.write_text("\n".join(json.dumps(s) for s in states))
    code, out = _verify(folder, capsys, "--commitments", str(good))
    assert code == 0 and "matches all 3 chain heads captured live" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"msn": 2, "head": "00" * 32}]))
    code, out = _verify(folder, capsys, "--commitments", str(bad))
    assert code == 1 and "does not match the head captured live at segment 2" in out


def test_unreadable_sources_are_reported_not_crashed(
    folder: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["verify", str(tmp_path / "nothing-here"), "--keys", str(folder.parent / "keys.json")])
    assert code == 1 and "no replay at" in capsys.readouterr().out
    code = main(["verify", str(folder), "--keys", str(tmp_path / "missing-keys.json")])
    assert code == 1 and "public keys could not be read" in capsys.readouterr().out
    code = main(["verify", "http://127.0.0.1:9/replay/x/", "--keys", str(folder.parent / "keys.json")])
    assert code == 1 and "could not be checked" in capsys.readouterr().out


# --- where the replay is: its page, a data directory ------------------------------------------------
async def _publish(rt: Any, space_id: str) -> None:
    await feed(rt, space_id)
    await rt.recording.replay.ended(ended_space(space_id))
    for task in list(rt.recording.replay._tasks):
        await task


@pytest.fixture
async def data_dir(settings: Settings, backend: str) -> Path:
    """A data directory holding a published replay, its app stopped (as `townhall demo` leaves it)."""
    async with running_app(settings, backend) as app:
        await _publish(app.state.runtime, "sp_verify")
    return settings.data_dir


async def test_replay_page_url_is_verified(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    await _publish(server.runtime, "sp_verify")
    code = await asyncio.to_thread(main, ["verify", f"{server.url}/r/sp_verify"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("verified"), out
    assert f"public keys from {server.url}/.well-known/townhall/replay-keys.json" in out


def test_space_is_verified_offline_from_the_data_directory_with_its_public_keys(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = (data_dir / "replay-keys.json").read_bytes()
    monkeypatch.chdir(data_dir.parent)  # as the demo prints it: paths relative to where it ran
    code = main(["verify", "--data-dir", data_dir.name, "sp_verify"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("verified"), out
    assert f"public keys from {data_dir.name}/replay-keys.json (its public half)" in out
    for key in json.loads(key_file)["keys"]:
        assert key["d"] not in out  # the private key is never printed
    assert (data_dir / "replay-keys.json").read_bytes() == key_file  # nor written


def test_changed_segment_in_the_data_directory_is_named(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    segment = data_dir / "blobs" / "live" / "sp_verify" / "s3.m4s"
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    code = main(["verify", "--data-dir", str(data_dir), "sp_verify"])
    out = capsys.readouterr().out
    assert code == 1 and "segment 3 (s3.m4s) was changed" in out, out
    assert "was dropped" not in out, out


def test_replay_folder_of_a_data_directory_is_verified(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", str(data_dir / "blobs" / "replay" / "sp_verify")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("verified"), out
    assert "replay-keys.json (its public half)" in out


def test_space_missing_from_the_data_directory_is_reported(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--data-dir", str(data_dir), "sp_elsewhere"])
    assert code == 1 and "no replay at sp_elsewhere" in capsys.readouterr().out


def test_help_names_every_form_of_replay(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    for form in ("/r/<space>", "/replay/<space>/", "--data-dir data/demo <space>", "blobs/replay/<space>"):
        assert form in out, form
