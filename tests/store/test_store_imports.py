"""Contract: reading small values in bulk (``get_many``, the read of ``run_many``) imports
only what reading needs, and writing small values imports no object store (nor numpy). The object store (and the array modules behind it) loads with
the first value that has objects, ``gc`` and ``verify`` with their first use, and the
names ``exca.store`` exports from them are there all along. Each test runs a fresh interpreter: the test process has imported everything.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict
from exca.store.bulk_decode import NO_OBJECTS
from exca.store.codecs.base import ObjectRef
from exca.store.errors import CorruptArtifactError

DEFERRED = ["exca.store.gc", "exca.store.objects", "exca.store.scan", "exca.store.verify"]


def fresh(code: str) -> str:
    """The stdout of ``code`` run by a fresh interpreter (which must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_bulk_read_of_small_values_in_a_fresh_process_imports_no_object_gc_or_verify_module(
    tmp_path: Path,
) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        for i in range(20):
            cache[f"k{i}"] = {"i": i, "pair": (i, str(i))}
    out = fresh(
        f"""
        import sys
        from exca.store import CacheDict

        cache = CacheDict({str(tmp_path)!r})
        values = cache.get_many([f"k{{i}}" for i in range(20)])
        assert values == [{{"i": i, "pair": (i, str(i))}} for i in range(20)], values
        print(sorted(m for m in {DEFERRED!r} if m in sys.modules))
        """
    )
    assert out == "[]"


def test_a_value_with_objects_loads_the_object_store_on_first_read(tmp_path: Path) -> None:
    CacheDict(tmp_path)["array"] = np.arange(100_000, dtype=np.int32)
    out = fresh(
        f"""
        from exca.store import CacheDict

        array = CacheDict({str(tmp_path)!r})["array"]
        print(type(array).__name__, int(array[-1]))
        """
    )
    assert out == "memmap 99999"


def test_writing_small_values_in_a_fresh_process_imports_no_numpy_until_one_needs_an_object(
    tmp_path: Path,
) -> None:
    out = fresh(
        f"""
        import sys
        from exca.store import CacheDict

        cache = CacheDict({str(tmp_path)!r})
        cache["small"] = ("value", 1, [1] * 4)
        cache.namespace.put_error("failed", ValueError("bad input"))
        with cache.write():  # (published as one pack as the block ends)
            cache["a"], cache["b"] = 1, 2
        before = "numpy" in sys.modules or "exca.store.objects" in sys.modules
        cache["large"] = bytes(1 << 20)  # too large to be held in its entry: an object
        print(before, "exca.store.objects" in sys.modules, cache["small"], len(cache["large"]))
        """
    )
    assert out == "False True ('value', 1, [1, 1, 1, 1]) 1048576"


WRITE_PATH = ["exca.store._preallocate", "exca.store.hashing_writer", "exca.store.objects",
              "exca.store.pins", "exca.store.scan"]  # fmt: skip


def test_the_first_array_read_of_a_fresh_process_imports_nothing_that_publishes_objects(
    tmp_path: Path,
) -> None:
    CacheDict(tmp_path)["array"] = np.arange(1000, dtype=np.int32)
    out = fresh(
        f"""
        import sys
        from exca.store import CacheDict

        array = CacheDict({str(tmp_path)!r})["array"]
        print(int(array.sum()), sorted(m for m in {WRITE_PATH!r} if m in sys.modules))
        """
    )
    assert out == f"{sum(range(1000))} []"


def test_the_reports_of_gc_and_verify_are_exported_before_either_runs(tmp_path: Path) -> None:
    out = fresh(
        f"""
        import exca.store
        from exca.store import GcReport, Problem, Store, VerifyReport

        report = Store({str(tmp_path)!r}).verify()
        print(isinstance(report, VerifyReport), report.ok, GcReport.__module__, Problem.__module__)
        print(all(name in dir(exca.store) for name in exca.store.__all__))
        """
    )
    assert out.splitlines() == ["True True exca.store.gc exca.store.verify", "True"]


def test_reading_small_values_from_several_packs_imports_no_numpy_and_gives_the_same_values(
    tmp_path: Path,
) -> None:
    # the pack searches without numpy (tests/store/test_pack_index.py compares them)
    cache = CacheDict(tmp_path)
    for part in range(3):  # three packs, overlapping: the newest record wins
        with cache.write():
            for i in range(part * 300, part * 300 + 500):
                cache[f"k{i}"] = [part, i]
    del cache["k7"]  # a loose tombstone over a packed record
    keys = [f"k{i}" for i in range(1100) if i != 7]
    absent = ["k7", "k-1", "k1100", "k" * 40]
    expected = cache.get_many(keys)
    out = fresh(
        f"""
        import sys
        from exca.store import CacheDict

        cache = CacheDict({str(tmp_path)!r})
        many = cache.get_many({keys!r})
        some = cache.get_many({keys[::50]!r})  # sparse in each pack
        one = [cache.get(k) for k in {keys[:10] + absent!r}]
        print(repr([many, some, one]))
        print("numpy" in sys.modules)
        """
    )
    values, numpy_loaded = out.splitlines()
    assert values == repr([expected, expected[::50], expected[:10] + [None] * len(absent)])
    assert numpy_loaded == "False"


def test_an_entry_listing_no_objects_that_reads_one_is_a_damaged_entry() -> None:
    # what a value without objects is decoded with: the object store is never opened
    ref = ObjectRef("ab" * 16, 10, ".bin")
    for read in (NO_OBJECTS.read_bytes, NO_OBJECTS.open_array, NO_OBJECTS.open_tree):
        with pytest.raises(CorruptArtifactError, match="lists no objects"):
            read(ref)
    with pytest.raises(CorruptArtifactError, match="lists no objects"):
        NO_OBJECTS.kept_arrays([ref])


def test_a_thread_asking_for_numpy_while_another_imports_it_gets_it_whole() -> None:
    # a pool's first array imports numpy in one worker while another stores a plain value:
    # sys.modules holds numpy half initialized meanwhile, and a codec choosing by it
    # failed with AttributeError ("partially initialized module 'numpy'")
    out = fresh(
        """
        import sys, threading
        from exca.store.codecs import choose_codec
        from exca.store.codecs._common import loaded_numpy

        seen, started = [], threading.Event()

        def ask():
            started.set()
            while "numpy" not in sys.modules:
                pass
            seen.append(hasattr(loaded_numpy(), "ndarray"))
            seen.append(choose_codec(1.5).name)

        asker = threading.Thread(target=ask)
        asker.start()
        started.wait()
        import numpy
        asker.join()
        print(seen)
        """
    )
    assert out == "[True, 'msgpack']"
