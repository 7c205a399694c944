"""Where the time of ``run_many`` over cached arrays goes, layer by layer (this exca only).

Usage: ``.venv/bin/python benchmarks/compare/profile_arrays.py [COUNT] [MIB]`` (200 x 1 MiB
by default). Fills a store through the Step API, then times, per array and best of 30,
each layer a cached read goes through: the ``stat`` of the object file (what a single
read of an opened object costs at least), the lookup and decoding of the entries (what a
new step instance pays), ``ObjectStore.open_array`` and ``Namespace.load`` as single
reads and within one block of reads (kept maps served without a ``stat``, see
``exca.store.mapped``), ``Namespace.load_kept`` (a block served together) and the whole
``run_many`` on the same and on new step instances; ``np.load(mmap_mode="r")`` of the
same files for comparison.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from step_arrays import make_step  # noqa: E402


def per_item(run: Callable[[], object], count: int, rounds: int = 30) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def main() -> None:
    from exca.steps import identity

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    mib = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    args = {"folder": tempfile.mkdtemp(prefix="exca-profile-"), "mib": mib}
    step, items = make_step(args), list(range(count))
    list(step.run_many(items))
    namespace = step.lookup(0).cache_dict.namespace
    found = namespace.find(identity.item_keys(step, items))
    entries = [found[key] for key in identity.item_keys(step, items)]
    objects = namespace.store.objects
    refs = [entry.encoded.objects[0] for entry in entries]
    paths = [str(objects.locate(ref)) for ref in refs]
    keys = identity.item_keys(step, items)
    block = namespace.reader()  # (one per block of values: see exca.store.mapped)
    rows = {
        "os.stat of the object file": lambda: [os.stat(path) for path in paths],
        "find and decode the entries (new instance)": lambda: namespace.find(keys).get_many(keys),
        "ObjectStore.open_array, single reads": lambda: [objects.open_array(r) for r in refs],
        "Namespace.load, single reads (codec included)": lambda: [
            namespace.load(e) for e in entries
        ],
        "Namespace.load, one block": lambda: [namespace.load(e, reader=block) for e in entries],
        "Namespace.load_kept, one block": lambda: namespace.load_kept(entries, block),
        "run_many, same step instance": lambda: list(step.run_many(items)),
        "run_many, new step instance": lambda: list(make_step(args).run_many(items)),
        "np.load(mmap_mode='r') of the same files": lambda: [
            np.load(path, mmap_mode="r") for path in paths
        ],
    }
    print(f"{count} cached arrays of {mib:g} MiB, µs per array (best of 30):")
    for label, run in rows.items():
        print(f"  {per_item(run, count):7.2f}  {label}")


if __name__ == "__main__":
    main()
