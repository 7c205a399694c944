"""Lookup throughput of ``CacheDict`` and ``Namespace.entries`` at 1k/10k/100k entries.

``Warm*`` time lookups in this (warm) process; ``FreshProcess*`` time them in a new
child process (interpreter start and imports excluded, page cache warm). Times are for
``QUERY_COUNT`` (1,000) keys spread over the store, so per-key cost is the time / 1,000.
"""

from __future__ import annotations

import _store_workloads as w
from _child import run_child

from exca.store import CacheDict

_MISSES = list(range(w.MISS_OFFSET, w.MISS_OFFSET + w.QUERY_COUNT))


def _fixtures() -> dict[int, str]:
    return {n: w.lookup_fixture(n) for n in w.ENTRY_COUNTS}


class WarmLookup:
    """1,000 lookups (hit or miss) in an open store, one by one or in one bulk call."""

    params = list(w.ENTRY_COUNTS)
    param_names = ["entries"]
    timeout = 600.0

    def setup_cache(self) -> dict[int, str]:
        return _fixtures()

    def setup(self, folders: dict[int, str], n: int) -> None:
        self.cache = CacheDict(folders[n])
        self.hits = [w.item_key(i) for i in w.spread_indices(n, w.QUERY_COUNT)]
        self.misses = [w.item_key(i) for i in _MISSES]
        self.cache.get(self.hits[0])  # the store is open: packs mapped, codecs imported

    def time_get_hit(self, folders: dict[int, str], n: int) -> None:
        w.get_each(self.cache, self.hits)

    def time_get_miss(self, folders: dict[int, str], n: int) -> None:
        w.get_each(self.cache, self.misses)

    def time_bulk_read_hit(self, folders: dict[int, str], n: int) -> None:
        w.bulk_read(self.cache, self.hits)

    def time_bulk_read_miss(self, folders: dict[int, str], n: int) -> None:
        w.bulk_read(self.cache, self.misses)


class FreshProcessLookup:
    """Lookups timed inside a new process (best of 3 processes), in ms."""

    params = list(w.ENTRY_COUNTS)
    param_names = ["entries"]
    unit = "ms"
    timeout = 600.0

    def setup_cache(self) -> dict[int, str]:
        return _fixtures()

    def _best_ms(self, task: str, args: dict[str, object]) -> float:
        return 1e3 * min(run_child(w.SCRIPT, task, args)["seconds"] for _ in range(3))

    def track_first_lookup(self, folders: dict[int, str], n: int) -> float:
        return self._best_ms("first_lookup", {"folder": folders[n], "index": n // 2})

    def track_bulk_read_1000_hits(self, folders: dict[int, str], n: int) -> float:
        indices = w.spread_indices(n, w.QUERY_COUNT)
        return self._best_ms("bulk_read", {"folder": folders[n], "indices": indices})

    def track_bulk_read_1000_misses(self, folders: dict[int, str], n: int) -> float:
        return self._best_ms("bulk_read", {"folder": folders[n], "indices": _MISSES})

    def track_get_1000_hits_one_by_one(self, folders: dict[int, str], n: int) -> float:
        indices = w.spread_indices(n, w.QUERY_COUNT)
        return self._best_ms("get_each", {"folder": folders[n], "indices": indices})
