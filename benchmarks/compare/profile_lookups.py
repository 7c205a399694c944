"""Where the time of one small-entry lookup goes, beside the floor of its system calls.

Usage: ``.venv/bin/python benchmarks/compare/profile_lookups.py [N]`` (10,000 entries by
default). Fills a store of ``N`` small values for exca and for diskcache (each in its bulk
idiom), waits until exca trusts its packs folder's time stamp, then times per key, best
of 15 rounds of 1,000 keys, the sides interleaved: a warm hit (``cd[key]``) and a warm miss
(``key in cd``) through exca and through diskcache, and the floor of an exca lookup: a
bare loop making the same two system calls (a ``stat`` of the key's loose-record path,
absent for a packed key, and a ``stat`` of the packs folder) and the same search of the
pack's key index, with no layer around them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import Lib, small_value  # noqa: E402


def per_key(run: Callable[[str], object], keys: list[str]) -> float:
    start = time.perf_counter()
    for key in keys:
        run(key)
    return (time.perf_counter() - start) / len(keys)


def main(n: int) -> None:
    folder = tempfile.mkdtemp(prefix="exca-lookups-")
    try:
        _measure(folder, n)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: str, n: int) -> None:
    from exca.store.entries import key_digest

    for name in ("exca", "diskcache"):
        os.makedirs(os.path.join(folder, name))
        Lib(name, os.path.join(folder, name)).put_many({f"k{i}": small_value(i) for i in range(n)})
    time.sleep(2.5)  # (exca re-lists a packs folder whose stamp is younger than 2 s)
    libs = {name: Lib(name, os.path.join(folder, name)) for name in ("exca", "diskcache")}
    keys = [f"k{i}" for i in range(0, n, max(1, n // 1000))][:1000]
    absent = [f"absent{i}" for i in range(len(keys))]
    table = libs["exca"].cd.namespace._table
    libs["exca"].get(keys[0])
    packs = table.packs.current()
    loose_dir, packs_dir = table.loose.folder, table.packs.folder

    def floor(key: str) -> None:
        digest = key_digest(key)
        try:
            os.stat(os.path.join(loose_dir, digest.hex()))
        except FileNotFoundError:
            pass
        os.stat(packs_dir)
        for pack in packs:
            pack.find(digest)

    sides: dict[str, tuple[Callable[[str], object], list[str]]] = {
        "floor (2 stats + index search), present keys": (floor, keys),
        "exca warm hit, cd[key]": (libs["exca"].cd.__getitem__, keys),
        "diskcache warm hit": (libs["diskcache"].cache.__getitem__, keys),
        "exca warm miss, key in cd": (libs["exca"].cd.__contains__, absent),
        "diskcache warm miss": (libs["diskcache"].cache.__contains__, absent),
    }
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(15):
        for name, (run, wanted) in sides.items():
            best[name] = min(best[name], per_key(run, wanted))
    print(f"store of {n:,} entries ({len(packs)} pack(s)), per key, best of 15 rounds:")
    for name, seconds in best.items():
        print(f"  {name:48s} {seconds * 1e6:6.2f} us")
    print(f"  (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
