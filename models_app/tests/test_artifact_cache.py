"""The host's artifact cache on its own (no Django): verified hits, refills, LRU trimming."""

import hashlib
import io
import os
import time

import pytest

from models_app.artifact_cache import ArtifactCache, ArtifactMismatch


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Source:
    """A fill that counts how often it is asked for the bytes."""

    def __init__(self, data: bytes):
        self.data = data
        self.calls = 0

    def __call__(self, target):
        self.calls += 1
        stream = io.BytesIO(self.data)
        while chunk := stream.read(1000):
            target.write(chunk)


def read(cache, data, source=None):
    source = source or Source(data)
    cached = cache.open(sha(data), source)
    with cached.file as handle:
        return handle.read(), cached.filled, source


def test_a_second_open_is_a_hit_that_does_not_fill(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10_000)
    data = os.urandom(3000)
    source = Source(data)
    assert read(cache, data, source)[:2] == (data, True)
    assert read(cache, data, source)[:2] == (data, False)
    assert source.calls == 1


def test_a_damaged_entry_is_filled_again_never_handed_out(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10_000)
    data = os.urandom(3000)
    source = Source(data)
    read(cache, data, source)
    entry = cache.entry(sha(data))
    damaged = bytearray(entry.read_bytes())
    damaged[10] ^= 0x01
    entry.write_bytes(bytes(damaged))
    assert read(cache, data, source)[:2] == (data, True)
    assert source.calls == 2
    assert entry.read_bytes() == data


def test_a_fill_with_other_bytes_keeps_nothing(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10_000)
    wanted, stored = os.urandom(100), os.urandom(100)
    with pytest.raises(ArtifactMismatch) as caught:
        cache.open(sha(wanted), Source(stored))
    assert caught.value.actual == sha(stored)
    assert not cache.entry(sha(wanted)).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_fill_that_fails_midway_leaves_no_entry_and_the_next_one_succeeds(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=10_000)
    data = os.urandom(2000)

    def broken(target):
        target.write(data[:500])
        raise ConnectionError("the bucket went away")

    with pytest.raises(ConnectionError):
        cache.open(sha(data), broken)
    assert not cache.entry(sha(data)).exists()
    assert read(cache, data)[:2] == (data, True)


def test_the_least_recently_used_entries_go_first_to_stay_under_the_bound(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=2500)
    first, second, third = (os.urandom(1000) for _ in range(3))
    read(cache, first)
    read(cache, second)
    past = time.time() - 100
    os.utime(cache.entry(sha(second)), (past, past))
    os.utime(cache.entry(sha(first)), (past + 50, past + 50))  # used after `second`
    read(cache, third)
    assert cache.entry(sha(first)).exists() and cache.entry(sha(third)).exists()
    assert not cache.entry(sha(second)).exists()
    assert sum(size for _, size, _ in cache.usage()) <= 2500


def test_a_hit_counts_as_a_use_for_trimming(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=2500)
    first, second, third = (os.urandom(1000) for _ in range(3))
    read(cache, first)
    read(cache, second)
    past = time.time() - 100
    for number, data in enumerate((first, second)):
        os.utime(cache.entry(sha(data)), (past + number, past + number))
    assert read(cache, first)[1] is False  # now `second` is the least recently used
    read(cache, third)
    assert [path.name for path, _, _ in cache.usage()].count(sha(second)) == 0
    assert cache.entry(sha(first)).exists()


def test_an_artifact_larger_than_the_bound_is_kept_alone(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=1000)
    small, large = os.urandom(500), os.urandom(3000)
    read(cache, small)
    assert read(cache, large)[:2] == (large, True)
    assert [path.name for path, _, _ in cache.usage()] == [sha(large)]


def test_an_entry_open_elsewhere_stays_readable_after_it_is_trimmed(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=1500)
    first, second = os.urandom(1000), os.urandom(1000)
    held = cache.open(sha(first), Source(first))
    read(cache, second)
    assert not cache.entry(sha(first)).exists()
    with held.file as handle:
        assert handle.read() == first


def test_a_name_that_is_not_a_sha256_is_refused(tmp_path):
    cache = ArtifactCache(tmp_path, max_bytes=1000)
    with pytest.raises(ValueError):
        cache.open("../../etc/passwd", Source(b""))
