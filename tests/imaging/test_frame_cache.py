"""The proxy's memory cache of pixel answers: bounded in bytes, entries expire, off when set to 0."""

from __future__ import annotations

from typing import Any

import pytest

from imaging.dicomweb.frame_cache import CachedAnswer, CacheKey, FrameCache

MIB = 1024**2


def key(n: int) -> CacheKey:
    return (f"/dicomweb/studies/1.2/series/1.3/instances/1.4.{n}/frames/1", "*/*", b"", "http", "testserver")


def answer(size: int, fill: bytes = b"x") -> CachedAnswer:
    return CachedAnswer("application/octet-stream", fill * size)


@pytest.fixture
def small(settings: Any) -> FrameCache:
    settings.DICOMWEB_PROXY_FRAME_CACHE_MB = 1
    settings.DICOMWEB_PROXY_FRAME_CACHE_S = 60.0
    return FrameCache()


def test_least_recently_used_go_first_when_full(small: FrameCache) -> None:
    for n in range(4):
        assert small.put(key(n), answer(300 * 1024), entry_max_bytes=MIB)
    # 4 x 300 KiB > 1 MiB: the oldest went; reading key 1 makes key 2 the oldest
    assert small.get(key(0)) is None and small.get(key(1)) is not None
    small.put(key(4), answer(300 * 1024), entry_max_bytes=MIB)
    assert small.get(key(2)) is None
    assert [small.get(key(n)) is not None for n in (1, 3, 4)] == [True, True, True]
    assert small.size_bytes == 3 * 300 * 1024 == sum(len(a.body) for a in (small.get(key(n)) for n in (1, 3, 4)) if a)


def test_replacing_an_entry_counts_its_size_once(small: FrameCache) -> None:
    small.put(key(0), answer(1000), entry_max_bytes=MIB)
    small.put(key(0), answer(400, b"y"), entry_max_bytes=MIB)
    assert small.size_bytes == 400 and len(small) == 1
    got = small.get(key(0))
    assert got is not None and got.body == b"y" * 400


def test_too_big_answers_are_not_kept(small: FrameCache) -> None:
    assert not small.put(key(0), answer(5000), entry_max_bytes=4096)
    assert not small.put(key(1), answer(2 * MIB), entry_max_bytes=4 * MIB)  # over the whole capacity
    assert len(small) == 0 and small.size_bytes == 0


def test_entries_expire(small: FrameCache, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import imaging.dicomweb.frame_cache as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    small.put(key(0), answer(10), entry_max_bytes=MIB)
    now[0] += 59.0
    assert small.get(key(0)) is not None
    now[0] += 2.0
    assert small.get(key(0)) is None and small.size_bytes == 0


@pytest.mark.parametrize("setting", ["DICOMWEB_PROXY_FRAME_CACHE_S", "DICOMWEB_PROXY_FRAME_CACHE_MB"])
def test_zero_turns_it_off_and_drops_what_it_held(small: FrameCache, settings: Any, setting: str) -> None:
    small.put(key(0), answer(10), entry_max_bytes=MIB)
    setattr(settings, setting, 0)
    assert not small.enabled
    assert small.get(key(0)) is None and small.size_bytes == 0
    assert not small.put(key(1), answer(10), entry_max_bytes=MIB)
