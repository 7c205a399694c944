"""Write throughput: 10,000 small values in one ``write()`` block, and large arrays
(1, 16, 256 MiB) with ``cd[key] = array`` beside a bare ``np.save`` to the same disk."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import _store_workloads as w
import numpy as np


class WriteSmall:
    """10,000 small values (inline msgpack) written inside one ``with cd.write()``."""

    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self) -> None:
        self.base = tempfile.mkdtemp(prefix="exca-bench-small-")
        self.keys = w.keys_for(0, w.SMALL_COUNT)
        self.values = [w.small_value(i) for i in range(w.SMALL_COUNT)]
        self.counter = itertools.count()

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def time_write_10000_small(self) -> None:
        folder = os.path.join(self.base, str(next(self.counter)))
        w.write_small(folder, self.keys, self.values)


class WriteArray:
    """One array of ``mib`` MiB (float32, new content each call, so never deduplicated),
    into a store in use (1,000 objects), or saved by ``np.save`` in the same folder."""

    params = list(w.ARRAY_MIB)
    param_names = ["mib"]
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0
    timeout = 300.0

    def setup(self, mib: int) -> None:
        self.base = tempfile.mkdtemp(prefix="exca-bench-array-")
        self.array = w.make_array(mib, seed=mib)
        self.cache = w.seeded_store(os.path.join(self.base, "store"))
        self.counter = itertools.count(1)

    def teardown(self, mib: int) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def time_cachedict_put(self, mib: int) -> None:
        count = next(self.counter)
        self.array[0] = count
        self.cache[f"array-{count}"] = self.array

    def time_bare_np_save(self, mib: int) -> None:
        np.save(os.path.join(self.base, f"bare-{next(self.counter)}.npy"), self.array)

    def track_throughput_ratio_vs_np_save(self, mib: int) -> float:
        """exca throughput / np.save throughput, best of 5 interleaved rounds each."""
        times = w.array_write_times(mib, repeat=5)
        return times["np.save"] / times["exca"]

    track_throughput_ratio_vs_np_save.unit = "ratio"
