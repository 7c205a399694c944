"""The store workloads shared by the asv benchmarks and ``store_report.py``.

Fixtures (stores of 1k/10k/100k small entries) are built once and kept under
``.asv/fixtures`` (or ``$EXCA_BENCH_FIXTURES``), named by a digest of the source of
``exca.store`` so that any change to the store code rebuilds them. Run as a script, this
module is the child side of :mod:`_child` for the fresh-process measurements.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _fixtures import fixture_root, source_digest

import exca.store
from exca.store import CacheDict, key_of

ENTRY_COUNTS = (1_000, 10_000, 100_000)
ARRAY_MIB = (1, 16, 256)
QUERY_COUNT = 1_000  # keys per lookup loop or bulk lookup when measuring per-key cost
SMALL_COUNT = 10_000  # small values written (and read back) by the write workload
MISS_OFFSET = 10**9  # item numbers from here on are never written
_FIXTURE_VERSION = 1
_SETTLE_S = 3.0  # a fixture is at least this old when measured (see lookup_fixture)
SCRIPT = os.path.abspath(__file__)


def item_key(i: int) -> str:
    """The key of item ``i``: what a step's item uid looks like (32 hex characters)."""
    return key_of(i)


def small_value(i: int) -> dict[str, Any]:
    """A small JSON-like value, stored inline in its entry record."""
    return {"index": i, "label": f"item-{i}", "score": i / 7.0}


def keys_for(start: int, count: int) -> list[str]:
    return [item_key(i) for i in range(start, start + count)]


def spread_indices(n: int, count: int) -> list[int]:
    """``count`` item numbers spread evenly over ``range(n)`` (all of them if fewer)."""
    if count >= n:
        return list(range(n))
    return [int(i * n / count) for i in range(count)]


# ----------------------------------------------------------------------- fixtures
def store_source_digest() -> str:
    return source_digest(Path(exca.store.__file__).parent, salt=f"lookup-{_FIXTURE_VERSION}")


def write_small(folder: str | os.PathLike[str], keys: list[str], values: list[Any]) -> None:
    """The small-value write workload: every value inside one ``with cd.write()``."""
    cache = CacheDict(folder)
    with cache.write():
        for key, value in zip(keys, values, strict=True):
            cache[key] = value


def lookup_fixture(n: int) -> str:
    """Folder of a CacheDict holding items ``0..n-1``, written in batches of 10,000.

    Built once (atomically: in a temporary folder, then renamed) and reused while the
    store code is unchanged; stale builds of the same size are removed.
    """
    root = fixture_root()
    name = f"lookup-{n}-{store_source_digest()}"
    final = root / name
    if not (final / "READY").exists():
        _build_lookup_fixture(root, name, n)
    # For 2 s after its packs folder changed, a store re-lists it on every lookup (two
    # changes within one clock tick share a time stamp); measure the steady state.
    age = time.time() - (final / "READY").stat().st_mtime
    if age < _SETTLE_S:
        time.sleep(_SETTLE_S - age)
    return str(final / "store")


def _build_lookup_fixture(root: Path, name: str, n: int) -> None:
    final = root / name
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"lookup-{n}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{name}-", dir=root))
    for start in range(0, n, SMALL_COUNT):  # one write() block per batch, as run_many does
        count = min(SMALL_COUNT, n - start)
        indices = range(start, start + count)
        write_small(tmp / "store", keys_for(start, count), [small_value(i) for i in indices])
    (tmp / "READY").write_text(f"{n} entries\n")
    try:
        os.rename(tmp, final)
    except OSError:  # another process published it first
        shutil.rmtree(tmp, ignore_errors=True)


def make_array(mib: int, seed: int = 0) -> np.ndarray:
    """A float32 array of ``mib`` MiB of random content (not compressible, not dedup-able)."""
    rng = np.random.default_rng(seed)
    return rng.random((mib << 20) // 4, dtype=np.float32)


def array_fixture(base: str | os.PathLike[str], mibs: tuple[int, ...]) -> dict[str, Any]:
    """A store holding one array per size, and the same arrays saved by ``np.save``."""
    base = Path(base)
    cache = CacheDict(base / "store")
    paths = {}
    for mib in mibs:
        array = make_array(mib, seed=mib)
        cache[f"array-{mib}"] = array
        paths[mib] = str(base / f"array-{mib}.npy")
        np.save(paths[mib], array)
    return {"store": str(base / "store"), "npy": paths}


# ----------------------------------------------------------------------- timing
def best_of(run: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Smallest time per call of ``run`` over ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            run()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def bulk_read(cache: CacheDict, keys: list[str]) -> list[Any]:
    """Bulk read of the values of ``keys``: ``cd.get_many`` (one lookup of all the keys,
    small values decoded together, as ``run_many`` over cached items reads them)."""
    return cache.get_many(keys)


def get_each(cache: CacheDict, keys: list[str]) -> int:
    found = 0
    for key in keys:
        if cache.get(key) is not None:
            found += 1
    return found


def seeded_store(folder: str | os.PathLike[str]) -> CacheDict:
    """A store in use: it holds 1,000 small array objects, so its fan-out folders exist."""
    cache = CacheDict(folder)
    with cache.write():
        for i in range(1_000):
            cache[f"seed-{i}"] = np.full(4, i)
    return cache


def array_write_times(mib: int, repeat: int, base: str | None = None) -> dict[str, float]:
    """Best times to write a ``mib`` MiB array with ``cd[key] = array`` and ``np.save``.

    Both write to the same disk, interleaved, with new content each round (a repeated
    payload would be deduplicated by the store, which is not what is measured), the
    store being one in use (:func:`seeded_store`). Each round's files are removed after
    it, outside the timing (``del cd[key]`` then ``gc``).
    """
    array = make_array(mib, seed=mib)
    times = {"exca": float("inf"), "np.save": float("inf")}
    with tempfile.TemporaryDirectory(prefix="exca-bench-write-", dir=base) as tmp:
        cache = seeded_store(os.path.join(tmp, "store"))
        for round_ in range(repeat):
            array[0] = round_ + 1  # new content, new digest
            start = time.perf_counter()
            cache[f"array-{round_}"] = array
            times["exca"] = min(times["exca"], time.perf_counter() - start)
            del cache[f"array-{round_}"]
            cache.store.gc(grace_s=0)
            target = os.path.join(tmp, f"bare-{round_}.npy")
            start = time.perf_counter()
            np.save(target, array)
            times["np.save"] = min(times["np.save"], time.perf_counter() - start)
            os.unlink(target)
    return times


# ----------------------------------------------------------------------- child tasks
def _task_first_lookup(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    key = item_key(args["index"])

    def run() -> dict[str, Any]:
        value = CacheDict(args["folder"])[key]
        return {"found": value is not None}

    return run


def _task_bulk_read(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    keys = [item_key(i) for i in args["indices"]]

    def run() -> dict[str, Any]:
        values = bulk_read(CacheDict(args["folder"]), keys)
        return {"found": sum(value is not None for value in values), "count": len(keys)}

    return run


def _task_get_each(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    keys = [item_key(i) for i in args["indices"]]

    def run() -> dict[str, Any]:
        return {"found": get_each(CacheDict(args["folder"]), keys), "count": len(keys)}

    return run


def _task_open_array(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        array = CacheDict(args["folder"])[args["key"]]
        return {"nbytes": int(array.nbytes)}

    return run


def _task_np_load_mmap(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        return {"nbytes": int(np.load(args["path"], mmap_mode="r").nbytes)}

    return run


TASKS = {
    "first_lookup": _task_first_lookup,
    "bulk_read": _task_bulk_read,
    "get_each": _task_get_each,
    "open_array": _task_open_array,
    "np_load_mmap": _task_np_load_mmap,
}


if __name__ == "__main__":
    from _child import serve

    serve(TASKS)
