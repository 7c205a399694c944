"""Opening (memory-mapping) and reading cached arrays of 1, 16 and 256 MiB, beside
``np.load(path, mmap_mode="r")`` of the same arrays saved by ``np.save``."""

from __future__ import annotations

import os
from typing import Any

import _store_workloads as w
import numpy as np
from _child import run_child

from exca.store import CacheDict


class OpenArray:
    params = list(w.ARRAY_MIB)
    param_names = ["mib"]
    timeout = 300.0

    def setup_cache(self) -> dict[str, Any]:
        return w.array_fixture(os.path.abspath("arrays"), tuple(w.ARRAY_MIB))

    def setup(self, fixture: dict[str, Any], mib: int) -> None:
        self.cache = CacheDict(fixture["store"])
        self.key = f"array-{mib}"
        self.path = fixture["npy"][mib]
        self.cache[self.key].max()  # page cache warm for both: the files hold the same bytes
        np.load(self.path, mmap_mode="r").max()

    def time_open_cachedict(self, fixture: dict[str, Any], mib: int) -> None:
        self.cache[self.key]

    def time_open_np_load_mmap(self, fixture: dict[str, Any], mib: int) -> None:
        np.load(self.path, mmap_mode="r")

    def time_open_and_read_cachedict(self, fixture: dict[str, Any], mib: int) -> None:
        self.cache[self.key].max()

    def time_open_and_read_np_load_mmap(self, fixture: dict[str, Any], mib: int) -> None:
        np.load(self.path, mmap_mode="r").max()


class OpenArrayFreshProcess:
    """First open in a new process (best of 3 processes), in ms."""

    params = list(w.ARRAY_MIB)
    param_names = ["mib"]
    unit = "ms"
    timeout = 300.0

    def setup_cache(self) -> dict[str, Any]:
        return w.array_fixture(os.path.abspath("arrays"), tuple(w.ARRAY_MIB))

    def track_first_open_cachedict(self, fixture: dict[str, Any], mib: int) -> float:
        args = {"folder": fixture["store"], "key": f"array-{mib}"}
        return 1e3 * min(run_child(w.SCRIPT, "open_array", args)["seconds"] for _ in range(3))

    def track_first_open_np_load_mmap(self, fixture: dict[str, Any], mib: int) -> float:
        args = {"path": fixture["npy"][mib]}
        return 1e3 * min(run_child(w.SCRIPT, "np_load_mmap", args)["seconds"] for _ in range(3))
