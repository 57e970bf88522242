"""What only the memory store has to prove: entries that expire are freed, read or not (the process
keeps running for weeks; a space's reaction hashes and who-is-speaking values must not pile up)."""

from __future__ import annotations

from townhall.store.state.memory import MemoryState

T0 = 1_764_170_000.5


async def test_expired_counter_hashes_are_freed_without_being_read() -> None:
    state = MemoryState(45, 30)
    for second in range(1000):
        await state.hincr(f"react:s1:{second}", "clap", 1, 35, T0 + second / 100)
    assert len(state._hashes) == 1000
    await state.hincr("react:s1:later", "clap", 1, 35, T0 + 10 + 35)  # every earlier hash has expired
    assert len(state._hashes) == 1


async def test_a_hash_written_again_is_kept_until_its_latest_expiry() -> None:
    state = MemoryState(45, 30)
    await state.hincr("react:s1:0", "clap", 1, 10, T0)
    await state.hincr("react:s1:0", "clap", 1, 10, T0 + 8)
    await state.hincr("other", "clap", 1, 10, T0 + 12)  # past the first expiry, not the second
    assert await state.hgetall("react:s1:0", T0 + 12) == {"clap": 2}
    await state.hincr("other", "clap", 1, 10, T0 + 18)
    assert len(state._hashes) == 1


async def test_expired_values_and_first_seen_marks_are_freed_without_being_read() -> None:
    state = MemoryState(45, 30)
    for i in range(500):
        await state.put(f"speaking:s{i}", b"[]", T0, ttl_s=3)
        await state.first_seen(f"dd:v{i}", 60, T0)
    await state.put("speaking:kept", b"[]", T0)  # no ttl: kept
    await state.put("speaking:now", b"[]", T0 + 3, ttl_s=3)
    await state.first_seen("dd:now", 60, T0 + 60)
    assert len(state._values) == 2
    assert len(state._seen) == 1
