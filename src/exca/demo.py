"""The README's main job: cache large arrays through the store, twice, and report.

Run with ``python -m exca.demo [FOLDER]`` (default ``./.exca-demo``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from exca.store import CacheDict, Store

N_ARRAYS = 8
ARRAY_SHAPE = (1024, 4096)  # 16 MiB of float32 each


def _make_array(index: int) -> np.ndarray:
    """A deterministic "preprocessed" array: a smoothed random signal."""
    rng = np.random.default_rng(index)
    raw = rng.standard_normal(ARRAY_SHAPE, dtype=np.float32)
    return np.cumsum(raw, axis=1, dtype=np.float32) / np.float32(64.0)


def _one_pass(cache: CacheDict) -> dict[str, float]:
    stats = dict.fromkeys(["written", "hits", "bytes", "compute_s", "cache_s"], 0.0)
    with cache.write():
        for index in range(N_ARRAYS):
            key = f"signal-{index}"
            start = time.perf_counter()
            if key in cache:
                array = cache[key]
                float(array.sum(dtype=np.float64))  # a real consumer reads every byte
                stats["hits"] += 1
            else:
                computed = time.perf_counter()
                array = _make_array(index)
                stats["compute_s"] += time.perf_counter() - computed
                cache[key] = array
                stats["written"] += 1
            stats["cache_s"] += time.perf_counter() - start
            stats["bytes"] += array.nbytes
    stats["cache_s"] -= stats["compute_s"]
    return stats


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else ".exca-demo").absolute()
    print(f"exca demo: {N_ARRAYS} arrays of {ARRAY_SHAPE} float32, cached in {folder}")
    for run in (1, 2):
        cache = CacheDict(folder / "signals", root=folder)
        stats = _one_pass(cache)
        mib = stats["bytes"] / 2**20
        print(
            f"run {run}: {stats['written']:.0f} computed ({stats['compute_s']:.2f} s) and "
            f"written, {stats['hits']:.0f} cache hits read in full; store time "
            f"{stats['cache_s']:.3f} s for {mib:.0f} MiB "
            f"({mib / max(stats['cache_s'], 1e-9):,.0f} MiB/s)"
        )
    report = Store(folder).verify()
    on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"store: {on_disk / 2**20:.0f} MiB on disk; verify: {report}")
    print("run `make demo` again: every array is now a cache hit (memory-mapped, verified)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
