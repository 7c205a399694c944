"""Child process of ``test_concurrency``: threads that write, read, pack and delete in
one store until a deadline, then print what they did as one JSON line.

Usage: ``python concurrent_worker.py ROOT WORKER SECONDS GO_FILE [--packer] [--deleter]``.
Prints ``ready`` once imported, waits for ``GO_FILE`` to exist (a start barrier shared
by all workers), then runs. Every value is self-checking (see :func:`check_value`).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import numpy as np
import xxhash

ARRAY_ITEMS = 2048  # 16 KiB of uint64: stored as its own .npy object
SAME_KEYS = 4  # "same-j": identical bytes written by every worker at once
SHARED_KEYS = 8  # "shared-j": written by every writer thread, each its own bytes


def is_array_key(key: str) -> bool:
    return key.split("-")[0] in ("same", "shared", "own", "batcharr")


def array_value(key: str, writer: int, version: int) -> np.ndarray:
    base = np.uint64(xxhash.xxh3_64_intdigest(key.encode()))
    mix = np.uint64((writer << 32) | version)
    value = (np.arange(ARRAY_ITEMS, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ base ^ mix
    value[:3] = (base, writer, version)
    return value


def value_of(key: str, writer: int, version: int) -> object:
    return array_value(key, writer, version) if is_array_key(key) else (key, writer, version)


def check_value(key: str, value: object) -> tuple[int, int]:
    """The (writer, version) of a whole value of ``key``; ``AssertionError`` otherwise."""
    if is_array_key(key):
        assert isinstance(value, np.ndarray) and value.dtype == np.uint64, (key, type(value))
        assert value.shape == (ARRAY_ITEMS,), (key, value.shape)
        writer, version = int(value[1]), int(value[2])
        assert np.array_equal(value, array_value(key, writer, version)), f"{key}: torn array"
        return writer, version
    assert isinstance(value, tuple) and len(value) == 3 and value[0] == key, (key, value)
    return value[1], value[2]


class Worker:
    def __init__(self, root: str, worker: int, seconds: float) -> None:
        from exca.store import CacheDict

        self.cache = CacheDict(root)  # shared by the writer, reader, packer, deleter threads
        self.batch_cache = CacheDict(root)  # a batch buffers per view: its own
        self.worker = worker
        self.seconds = seconds
        self.writes: list[tuple[str, int, int]] = []
        self.deleted: list[str] = []
        self.reads = 0
        self.packs = 0
        self.violations: list[str] = []
        self.lock = threading.Lock()
        self.deadline = 0.0

    def _rounds(self) -> Iterator[int]:
        """1, 2, 3, ... until the deadline, and at least one round however late we start."""
        version = 1
        yield version
        while time.time() < self.deadline:
            version += 1
            yield version

    def _log(self, writes: list[tuple[str, int, int]]) -> None:
        with self.lock:
            self.writes.extend(writes)

    def _put(self, key: str, writer: int, version: int) -> None:
        self.cache[key] = value_of(key, writer, version)
        self._log([(key, writer, version)])

    def write_same(self) -> None:
        for j in range(SAME_KEYS):
            self._put(f"same-{j}", 0, 0)

    def writer(self, writer: int) -> None:
        rng = random.Random(writer)
        for version in self._rounds():
            self._put(f"shared-{rng.randrange(SHARED_KEYS)}", writer, version)
            self._put(f"own-{writer}-{version % 16}", writer, version)

    def batcher(self, writer: int) -> None:
        for version in self._rounds():
            keys = [f"batch-{writer}-{j}" for j in range(10)] + [f"batcharr-{writer}-{version % 4}"]
            with self.batch_cache.write():
                for key in keys:
                    self.batch_cache[key] = value_of(key, writer, version)
            self._log([(key, writer, version) for key in keys])

    def reader(self, seed: int) -> None:
        rng = random.Random(seed)
        names = [f"same-{j}" for j in range(SAME_KEYS)] + [
            f"shared-{j}" for j in range(SHARED_KEYS)
        ]
        for _ in self._rounds():
            others = rng.randrange(100)
            keys = [
                *names,
                f"own-{others}-{rng.randrange(16)}",
                f"batch-{others}-{rng.randrange(10)}",
            ]
            for key in keys:
                value = self.cache.get(key)
                if value is not None:
                    check_value(key, value)
            namespace = self.cache.namespace
            for key, entry in namespace.entries(keys).items():
                check_value(key, namespace.load(entry))
            self.reads += 2 * len(keys)

    def packer(self) -> None:
        for _ in self._rounds():
            self.cache.namespace.pack()
            self.packs += 1
            time.sleep(0.001)

    def deleter(self, writer: int) -> None:
        for version in self._rounds():
            key = f"del-{writer}-{version}"
            self._put(key, writer, version)
            del self.cache[key]
            with self.lock:
                self.deleted.append(key)

    def run(self, packer: bool, deleter: bool) -> None:
        base = 10 * self.worker
        jobs: list[Callable[[], None]] = [
            lambda: self.writer(base + 1),
            lambda: self.writer(base + 2),
            lambda: self.batcher(base + 3),
            lambda: self.reader(base + 4),
            lambda: self.reader(base + 5),
        ]
        if packer:
            jobs.append(self.packer)
        if deleter:
            jobs.append(lambda: self.deleter(base + 6))
        self.write_same()  # all workers at once, right after the barrier
        self.deadline = time.time() + self.seconds
        threads = [threading.Thread(target=self._guard, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _guard(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
            self.violations.append(traceback.format_exc())


def main(root: str, worker: int, seconds: float, go_file: str, flags: list[str]) -> None:
    state = Worker(root, worker, seconds)
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.001)
    state.run(packer="--packer" in flags, deleter="--deleter" in flags)
    report = {
        "writes": state.writes,
        "deleted": state.deleted,
        "reads": state.reads,
        "packs": state.packs,
        "violations": state.violations,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:])
