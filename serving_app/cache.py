"""A per-process LRU of loaded models, bounded by count and bytes, with pinning and
single-flight loading. No Django here.

Pinned keys (the production version, its fallback, a running A/B test's challenger) are
never evicted; the bounds may be exceeded by pinned entries alone, never by unpinned ones.
Concurrent misses for one key run its loader once; the others wait for that result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    value: Any
    size: int


class ModelCache:
    def __init__(self, *, max_entries: int, max_bytes: int):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[Hashable, Future] = {}
        self._pinned: frozenset = frozenset()
        self._bytes = 0
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.value

    def get_or_load(self, key: Hashable, loader: Callable[[], tuple[Any, int]]) -> Any:
        """The cached value, or the loader's (value, size in bytes), loaded once per key."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.value
            waiting = self._inflight.get(key)
            if waiting is None:
                future: Future[Any] = Future()
                self._inflight[key] = future
        if waiting is not None:
            return waiting.result()
        try:
            value, size = loader()
        except BaseException as exc:
            with self._lock:
                del self._inflight[key]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._inflight[key]
            self.loads += 1
            self._put(key, value, size)
        future.set_result(value)
        return value

    def forget(self, key: Hashable) -> None:
        """Drop a cached value (loaded under settings that changed since)."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size

    def _put(self, key: Hashable, value: Any, size: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = _Entry(value, max(int(size), 0))
        self._bytes += self._entries[key].size
        self._evict()

    def pin(self, keys: Iterable[Hashable]) -> None:
        """Replace the pinned set; entries no longer pinned become evictable."""
        with self._lock:
            self._pinned = frozenset(keys)
            self._evict()

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            victim = next((k for k in self._entries if k not in self._pinned), None)
            if victim is None:
                return
            self._bytes -= self._entries.pop(victim).size
            self.evictions += 1

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    @property
    def pinned(self) -> frozenset:
        return self._pinned

    @property
    def total_bytes(self) -> int:
        return self._bytes
