"""Store-level workloads, defined once and run against every library (child side).

Run by :mod:`run` as ``python peers.py TASK ARGS_JSON`` (the :mod:`_child` protocol: the
task prepares untimed, then times only its work). ``args["lib"]`` names the library:

* ``exca``: :class:`exca.store.CacheDict` (bulk writes in ``with cd.write():``);
* ``joblib``: ``joblib.Memory(folder, mmap_mode="r").cache(produce)``: a write is the
  first call (computes and dumps), a read a later call (hashes the argument, loads);
* ``diskcache``: ``diskcache.Cache(folder)`` (bulk writes in ``cache.transact()``);
* ``numpy``: ``np.save`` / ``np.load(mmap_mode="r")`` of one file per key (the floor of
  an array format with a header); ``raw``: the array's bytes written and read back with
  plain file calls (the physical floor).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

IN_USE = 1_000  # arrays a store holds before the timed array writes
_VALUES: dict[str, Any] = {}  # what joblib's cached function "computes", by key


def produce(key: str) -> Any:
    return _VALUES[key]


class Lib:
    """One library's put/get over string keys, in ``folder``."""

    def __init__(self, name: str, folder: str) -> None:
        self.name, self.folder = name, folder
        if name == "exca":
            from exca.store import CacheDict

            self.cd = CacheDict(folder)
        elif name == "joblib":
            import joblib

            self.func = joblib.Memory(folder, mmap_mode="r", verbose=0).cache(produce)
        elif name == "diskcache":
            import diskcache

            self.cache = diskcache.Cache(folder)

    def put(self, key: str, value: Any) -> None:
        if self.name == "exca":
            self.cd[key] = value
        elif self.name == "joblib":
            _VALUES[key] = value
            self.func(key)
            del _VALUES[key]
        elif self.name == "diskcache":
            self.cache[key] = value
        elif self.name == "numpy":
            np.save(os.path.join(self.folder, key + ".npy"), value)
        else:
            with open(os.path.join(self.folder, key), "wb") as handle:
                handle.write(np.ascontiguousarray(value).data)

    def get(self, key: str) -> Any:
        if self.name == "exca":
            return self.cd[key]
        if self.name == "joblib":
            return self.func(key)  # a hit: loaded, never computed (_VALUES is empty)
        if self.name == "diskcache":
            return self.cache[key]
        if self.name == "numpy":
            return np.load(os.path.join(self.folder, key + ".npy"), mmap_mode="r")
        path = os.path.join(self.folder, key)
        with open(path, "rb") as handle:
            data = bytearray(os.fstat(handle.fileno()).st_size)
            handle.readinto(data)
        return data

    def has(self, key: str) -> bool:
        if self.name == "exca":
            return key in self.cd
        if self.name == "joblib":
            return self.func.check_call_in_cache(key)
        if self.name == "diskcache":
            return key in self.cache
        return os.path.exists(os.path.join(self.folder, key + ".npy"))

    def put_many(self, items: dict[str, Any]) -> None:
        """Each library's own bulk-write idiom."""
        if self.name == "exca":
            with self.cd.write():
                for key, value in items.items():
                    self.cd[key] = value
        elif self.name == "diskcache":
            with self.cache.transact():
                for key, value in items.items():
                    self.cache[key] = value
        else:
            for key, value in items.items():
                self.put(key, value)

    def get_many(self, keys: list[str]) -> list[Any]:
        if self.name == "exca":
            return self.cd.get_many(keys)
        return [self.get(key) for key in keys]


def small_value(i: int) -> dict[str, Any]:
    return {"index": i, "name": f"item-{i}", "score": i / 7}


def array_of(mib: float, seed: int) -> np.ndarray:
    return np.full(int(mib * (1 << 18)), float(seed), dtype=np.float32)


def prewarm(nbytes: int) -> None:
    """Touch ``nbytes`` of memory and free it: the VM hands idle memory back to its host
    after ~2 s and touching it again costs ~2 s/GiB, which a timed allocation would pay."""
    if nbytes > 0:
        np.ones(nbytes // 8 + 1, dtype=np.float64)
    gc.collect()


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# ---------------------------------------------------------------------- child tasks
def _task_array_write(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Write one new array per round (new content: content-addressed stores dedup) into
    a store in use: one already holding ``IN_USE`` arrays of 8 KiB (exca stores each as
    an object, so its 256 fan-out folders, created on first use, exist as in any store
    in use; below 4 KiB an array is inline in its entry; diskcache has its database)."""
    lib, rounds = Lib(args["lib"], args["folder"]), args["rounds"]
    arrays = [array_of(args["mib"], seed) for seed in range(rounds)]
    if args["lib"] in ("exca", "diskcache"):
        lib.put_many({f"in-use-{i}": np.full(2048, -i, dtype=np.float32) for i in range(IN_USE)})

    def run() -> dict[str, Any]:
        times = []
        for seed, array in enumerate(arrays):
            prewarm(array.nbytes)
            times.append(_timed(lambda: lib.put(f"a{seed}", array)))  # noqa: B023
        return {"best": min(times), "median": float(np.median(times))}

    return run


def _task_array_read(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Open a stored array (``full``: and read it through) in this fresh process."""
    lib = Lib(args["lib"], args["folder"])
    prewarm(int(args["mib"] * (1 << 20)) if args["full"] else 0)

    def run() -> dict[str, Any]:
        value = lib.get(args["key"])
        if args["full"]:
            total = float(np.frombuffer(value, dtype=np.float32).max())  # every byte
            return {"max": total}
        return {}

    return run


def _task_fill(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Store ``n`` small values (``single``: one by one, outside any bulk idiom) or arrays."""
    lib = Lib(args["lib"], args["folder"])
    if args.get("mib"):
        items: dict[str, Any] = {f"a{i}": array_of(args["mib"], i) for i in range(args["n"])}
    else:
        items = {f"k{i}": small_value(i) for i in range(args["n"])}

    def run() -> dict[str, Any]:
        if args.get("single"):
            for key, value in items.items():
                lib.put(key, value)
        else:
            lib.put_many(items)
        return {"count": len(items)}

    return run


def _task_lookups(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """In a fresh process (the library imported): opening the cache and its first
    lookup, then warm hits and misses, then a bulk read."""
    n, sample = args["n"], args["sample"]
    __import__({"exca": "exca.store"}.get(args["lib"], args["lib"]))  # (not timed)
    step = max(1, n // sample)
    keys = [f"k{i}" for i in range(0, n, step)][:sample]
    absent = [f"absent{i}" for i in range(len(keys))]

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        lib = Lib(args["lib"], args["folder"])  # diskcache connects to SQLite here
        opened = time.perf_counter()
        lib.get(keys[len(keys) // 2])
        first = time.perf_counter() - opened
        open_first = time.perf_counter() - start
        hit = _timed(lambda: [lib.get(key) for key in keys]) / len(keys)
        miss = _timed(lambda: [lib.has(key) for key in absent]) / len(absent)
        every = [f"k{i}" for i in range(n)]
        bulk = _timed(lambda: lib.get_many(every))
        ok = lib.get(keys[0]) == small_value(int(keys[0][1:]))
        return {"open_first": open_first, "first": first, "hit": hit, "miss": miss,
                "bulk": bulk, "correct": ok}  # fmt: skip

    return run


TASKS = {
    "array_write": _task_array_write,
    "array_read": _task_array_read,
    "fill": _task_fill,
    "lookups": _task_lookups,
}


if __name__ == "__main__":
    from _child import serve

    serve(TASKS)
