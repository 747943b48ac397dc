"""The per-process model cache: LRU by count and bytes, pinning, single-flight."""

from __future__ import annotations

import time

from axion_registry.testing import run_concurrently
from serving_app.cache import ModelCache


def loaded(value, size=1):
    return lambda: (value, size)


def test_it_evicts_the_least_recently_used_beyond_the_count():
    cache = ModelCache(max_entries=2, max_bytes=10**9)
    cache.get_or_load("a", loaded("A"))
    cache.get_or_load("b", loaded("B"))
    assert cache.get("a") == "A"  # a is now the most recent
    cache.get_or_load("c", loaded("C"))
    assert cache.keys() == ["a", "c"]
    assert cache.evictions == 1


def test_it_evicts_until_the_bytes_fit():
    cache = ModelCache(max_entries=10, max_bytes=100)
    cache.get_or_load("a", loaded("A", 40))
    cache.get_or_load("b", loaded("B", 40))
    cache.get_or_load("c", loaded("C", 50))
    assert cache.keys() == ["b", "c"] and cache.total_bytes == 90


def test_pinned_entries_are_never_evicted():
    cache = ModelCache(max_entries=2, max_bytes=10**9)
    cache.get_or_load("production", loaded("P"))
    cache.get_or_load("fallback", loaded("F"))
    cache.pin({"production", "fallback"})
    cache.get_or_load("explicit", loaded("E"))
    assert set(cache.keys()) == {"production", "fallback"}  # the unpinned newcomer goes
    cache.pin({"production"})
    cache.get_or_load("explicit", loaded("E"))
    assert set(cache.keys()) == {"production", "explicit"}


def test_pinned_entries_may_exceed_the_bounds_alone():
    cache = ModelCache(max_entries=1, max_bytes=10)
    cache.pin({"a", "b"})
    cache.get_or_load("a", loaded("A", 8))
    cache.get_or_load("b", loaded("B", 8))
    assert set(cache.keys()) == {"a", "b"}


def test_concurrent_misses_for_one_key_load_it_once():
    cache = ModelCache(max_entries=4, max_bytes=10**9)
    calls = []

    def slow_loader():
        calls.append(1)
        time.sleep(0.2)
        return object(), 1

    results = run_concurrently([lambda: cache.get_or_load("v1", slow_loader)] * 8)
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_a_failed_load_reaches_every_waiter_and_is_not_cached():
    cache = ModelCache(max_entries=4, max_bytes=10**9)

    def failing():
        time.sleep(0.1)
        raise ValueError("corrupted")

    errors = run_concurrently([lambda: cache.get_or_load("v1", failing)] * 3,
                              return_exceptions=True)
    assert len(errors) == 3 and all(isinstance(e, ValueError) for e in errors)
    assert "v1" not in cache
    assert cache.get_or_load("v1", loaded("fixed")) == "fixed"

