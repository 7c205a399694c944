"""Build the committed golden store ``tests/data/golden-store-v1`` (run once, never again).

The store holds a fixed set of keys covering every built-in codec, loose and packed
entries, a cached error and deleted keys. ``test_golden_store.py`` checks that every
future version of exca reads it back exactly; its expectations are written out there
independently of this script, so editing this file changes nothing that is pinned.

Regenerating would change creation times and pack names only, but the point of a golden
store is that it is never rewritten: for a new store format, write ``golden-store-v2``
with a copy of this script, and keep this one.

Usage::

    python tests/store/make_golden_store.py [--output FOLDER]
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import fractions
import importlib.util
import sys
from pathlib import Path

import numpy as np

from exca.store import Store, key_of

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "data" / "golden-store-v1"
STEP = "type=Mult,coeff=3-ab12/cache"
UTC_PLUS_2 = dt.timezone(dt.timedelta(hours=2))


def root_values() -> dict[str, tuple[object, str | None]]:
    """Loose entries of the store's own namespace: key -> (value, codec or None)."""
    values: dict[str, tuple[object, str | None]] = {
        "int": (5, None),
        "float": (5.0, None),
        "bool": (True, None),
        "none": (None, None),
        "str": ("héllo wörld ✓", None),
        "bytes": (b"\x00\xffbytes", None),
        "tuple": ((1, "a", (2.5, None)), None),
        "list": ([1, [2, 3], []], None),
        "set": ({1, 2, 3}, None),
        "frozenset": (frozenset({"a", "b"}), None),
        "dict": ({"a": 1, 3: [b"x", None], (1, 2): "tuple key", "nan": float("nan")}, None),
        "numpy-scalars": (
            [np.float32(1.5), np.int64(-3), np.bool_(True), np.uint8(255), np.complex128(1 - 2j)],
            None,
        ),
        "small-array": ({"tiny": np.arange(6, dtype=np.int16).reshape(2, 3)}, None),
        "datetimes": (
            [
                dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
                dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
                dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC_PLUS_2),
                dt.date(2024, 2, 29),
                dt.time(12, 30, 15),
                dt.timedelta(days=1, seconds=2, microseconds=3),
            ],
            None,
        ),
        "large-msgpack": (list(range(30_000)), None),  # above the inline limit: an object
        "unicode-key-ключ ✓": (1, None),
        key_of({"coeff": 3, "x": (1, 2)}): ("keyed by key_of", None),
        "float64": (np.arange(12.0).reshape(3, 4), None),
        "fortran": (np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)), None),
        "structured": (
            np.array(
                [(1, 2.5, b"ab"), (3, -1.0, b"c")],
                dtype=[("i", "<i4"), ("f", "<f8"), ("s", "S2")],
            ),
            None,
        ),
        "zero-d": (np.array(3.5), None),
        "empty": (np.zeros((0, 3), dtype=np.float32), None),
        "big-endian": (np.arange(4, dtype=">i8"), None),
        "datetime64": (np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[D]"), None),
        "unicode-array": (np.array(["a", "héllo"]), None),
        "zarr": (np.arange(1000, dtype=np.float32).reshape(10, 100), "zarr"),
        "object-array": (np.array(["a", 1, None], dtype=object), None),
        "fraction": (fractions.Fraction(1, 3), None),
        "pickled-dict": ({"decimal": decimal.Decimal("1.10"), "list": [1, 2]}, "pickle"),
    }
    shared = np.arange(700.0)  # appears twice: stored once
    values["nested"] = (
        {"big": np.arange(600.0), "small": np.arange(3), "meta": ("x", 1), "a": shared,
         "b": [shared, {"deep": np.ones((40, 20), dtype=np.float32)}]},
        None,
    )  # fmt: skip
    if all(importlib.util.find_spec(name) for name in ("pandas", "pyarrow")):
        import pandas as pd

        frame = pd.DataFrame(
            {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5],
             "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])},
            index=pd.Index([10, 20, 30], name="id"),
        )  # fmt: skip
        values["frame"] = (frame, "parquet")
    return values


def build(output: Path) -> None:
    store = Store(output)
    root = store.namespace("")
    for key, (value, codec) in root_values().items():
        root.put(key, value, codec=codec)
    root.put_error("error", ValueError("boom"))
    root.put("deleted-loose", np.arange(5.0))
    root.delete("deleted-loose")  # a loose tombstone; its object is left for gc

    step = store.namespace(STEP)
    with step.batch():  # the first pack
        for i in range(5):
            step.put(f"item-{i}", {"i": i, "square": i * i})
        step.put("deleted-packed", np.arange(6.0))
        step.put("replaced", "old value")
    step.put("later-packed", np.arange(8, dtype=np.uint16))
    step.put_error("error-packed", KeyError("missing"))
    step.pack()  # the second pack
    step.put("replaced", "new value")  # a loose record newer than its packed one
    step.put("loose", (1.5, "loose"))
    step.delete("deleted-packed")  # a loose tombstone over a packed record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.output.exists():
        print(
            f"{args.output} exists: a golden store is generated once and never rewritten; "
            "choose another --output (for a new format, a golden-store-v2)",
            file=sys.stderr,
        )
        return 1
    build(args.output)
    print(f"golden store written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
