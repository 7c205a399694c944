"""Golden keys, pinned forever: every value below keeps its key in every future version.

A key names cached results on disk, so a changed key silently orphans every cache built
before. If one of these tests fails, the key format changed: revert the change, or make
it on purpose, bump ``KEY_FORMAT_VERSION`` and migrate stores. Never edit an expected
value to make the test pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import uuid

import numpy as np
import pydantic
import pytest

from exca.store.keys import KEY_FORMAT_VERSION, key_bytes, key_of


class Mode(enum.Enum):
    FAST = "fast"


@dataclasses.dataclass(frozen=True)
class Pair:
    first: object
    second: object


class Config(pydantic.BaseModel):
    name: str
    sizes: tuple[int, ...] = ()


# A key names the class of a model, dataclass or enum member: pin the module it names,
# whatever name pytest imports this file under.
for _cls in (Mode, Pair, Config):
    _cls.__module__ = "exca_golden"

GOLDEN_VALUES = {
    "str": "hello",
    "empty str": "",
    "unicode str": "héllo wörld ✓",
    "surrogate str": "\ud800",
    "int": 5,
    "negative int": -5,
    "int64 max": 2**63 - 1,
    "uint64 max": 2**64 - 1,
    "big int": 2**64,
    "big negative int": -(2**200),
    "float": 5.0,
    "zero": 0.0,
    "negative zero": -0.0,
    "nan": float("nan"),
    "inf": float("inf"),
    "true": True,
    "none": None,
    "bytes": b"x",
    "list": [1, 2],
    "tuple": (1, 2),
    "set": {1, 2},
    "frozenset": frozenset({1, 2}),
    "dict": {"b": 2, "a": 1},
    "nested": {"items": [(1, "a"), {b"k": None}], "flags": frozenset({"x", "y"})},
    "complex": complex(1, -2),
    "decimal": decimal.Decimal("1.10"),
    "datetime": dt.datetime(2024, 2, 29, 12, 30, 5, 123, tzinfo=dt.UTC),
    "date": dt.date(2024, 2, 29),
    "time": dt.time(23, 59, 59),
    "timedelta": dt.timedelta(days=2, seconds=3, microseconds=4),
    "path": pathlib.PurePosixPath("data/file.npy"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "enum": Mode.FAST,
    "numpy int64": np.int64(5),
    "numpy float32": np.float32(0.5),
    "numpy nan": np.float64("nan"),
    "numpy bool": np.bool_(True),
    "numpy str": np.str_("x"),
    "numpy datetime": np.datetime64("2024-02-29", "D"),
    "array": np.arange(12, dtype="<f8").reshape(3, 4),
    "fortran array": np.asfortranarray(np.arange(12, dtype="<f8").reshape(3, 4)),
    "big-endian array": np.arange(5, dtype=">i4"),
    "empty array": np.zeros((0, 3), dtype="<i2"),
    "scalar array": np.array(7, dtype="<u1"),
    "structured array": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
    "string array": np.array(["a", "bc"]),
    "datetime array": np.array(["2024-01-01", "2024-01-02"], dtype="M8[D]"),
    "object array": np.array([1, "a", None], dtype=object),
    "large array": np.arange(2_000_000, dtype="<i4").reshape(1000, 2000),
    "dataclass": Pair(1, "a"),
    "model": Config(name="x", sizes=(1, 2)),
}

GOLDEN_KEYS = {
    "str": "4cad34d61327a9777a3e11583b26b7cd",
    "empty str": "97e471de436bd0a72b98bb92609bd6f8",
    "unicode str": "65cd49895571bb567917a42d3a6f5bdf",
    "surrogate str": "7471b9163eee53ea24234631436a200d",
    "int": "e1325e21416bcdb2929e358d27ae3ee2",
    "negative int": "4b120ec907565137f487e4acab9c606c",
    "int64 max": "74e5947738cbef29eb68e76b3cee40e2",
    "uint64 max": "8cd688e52bc59306bd6fd30f63a77fe8",
    "big int": "eeb33d7db8decbeda466fd08fcf298f1",
    "big negative int": "bfb4b9ed7838b28e0abad30e4e05cf1f",
    "float": "ef386342535f17d0b09c2dec6e72ee11",
    "zero": "3132daf6546322ca4d1062c09c42c758",
    "negative zero": "377d200ace39938c5d49463e20ed88c2",
    "nan": "8c3d5884f797e87d775bc4eecde46447",
    "inf": "3aec61dfbcb23152d28bed03dbeffb50",
    "true": "daf65df25d857344ee5fa5121cc81e25",
    "none": "80702dc0c878209e05264b395baf644c",
    "bytes": "5d2f1c34d62a6c12a7b5ed1874a20c87",
    "list": "dbc6f6855a94383825e7a8a60596e6f1",
    "tuple": "2ea82f2ce6a0850a713afa4ccf7fca12",
    "set": "8e3aef39747a812ae58991c6132a19a1",
    "frozenset": "1ab0d545a8d3fd89c43fb960fd79ce81",
    "dict": "fbb626fcedd007e0ab9b4fb85443a842",
    "nested": "eae4e6a0486c2bceb434c2b0a308ff44",
    "complex": "cca0eb3fabfa9ff4018fed9470697477",
    "decimal": "5edf241028f7a160ad29b4a1574b6b05",
    "datetime": "af610579d5d604cb53eb8437c564cb40",
    "date": "40cf840a40bed8254d45075b790b560d",
    "time": "26c80426497757b7a93801fe16b3a33d",
    "timedelta": "914d11f3c0651215abda6b919f73d616",
    "path": "90b76b4a27e51ace6e961c3d427ba3e8",
    "uuid": "fa73cfc7d2d506e7287b5ae9ee63c762",
    "enum": "ec10be3971db95922aca830f96635126",
    "numpy int64": "2c4a7316ae3c49e05a3fcd7732033adb",
    "numpy float32": "b76afd2188fd5f6cd3c594b6a385b969",
    "numpy nan": "c880188391042420023ee5810e1b89f6",
    "numpy bool": "d9c1ba8650667a9034f537e8ab70e742",
    "numpy str": "ab36fae51cc710e2448cce1996ef5209",
    "numpy datetime": "3314f372d9a7818bcc933498ce190f9c",
    "array": "e21511eaef935484e63b9b22e3df37b2",
    "fortran array": "e21511eaef935484e63b9b22e3df37b2",
    "big-endian array": "70c1b94b89a48deeab6670921cf97e62",
    "empty array": "d544d830ce2b5153c6a686d4426ddb90",
    "scalar array": "e3cf0f61b764598b7c4a2890954589be",
    "structured array": "b3142d70b37898cad35100548dea9668",
    "string array": "781403e2c9bbe30707fb5d013f5e7063",
    "datetime array": "5d2e28813e1d101e1908565df562f344",
    "object array": "af8c09aba76535bfe3737980ec0c9f27",
    "large array": "1a29e1f4769990feb6a8374cdbfe76d0",
    "dataclass": "9b6e976107511063450037061e8c789e",
    "model": "dc859467cde6641e093de4920c5ec718",
}

# The encoding itself, for values small enough to read.
GOLDEN_BYTES = {
    "int": "05",
    "tuple": "c7030401a161",  # ext(TUPLE=4, [1, "a"])
    "dict": "c70607a16101a16202",  # ext(DICT=7, sorted key+value encodings)
    "numpy int64": "c70e08a33c6938c4080500000000000000",  # ext(NP_SCALAR=8, "<i8", bytes)
}
GOLDEN_BYTES_VALUES = {
    "int": 5,
    "tuple": (1, "a"),
    "dict": {"b": 2, "a": 1},
    "numpy int64": np.int64(5),
}


def test_the_key_format_version_is_1() -> None:
    assert KEY_FORMAT_VERSION == 1


def test_every_golden_value_has_a_pinned_key() -> None:
    assert GOLDEN_VALUES.keys() == GOLDEN_KEYS.keys()


@pytest.mark.parametrize("label", GOLDEN_KEYS)
def test_golden_value_keeps_its_key_forever(label: str) -> None:
    assert key_of(GOLDEN_VALUES[label]) == GOLDEN_KEYS[label]


@pytest.mark.parametrize("label", GOLDEN_BYTES)
def test_golden_value_keeps_its_encoding_forever(label: str) -> None:
    assert key_bytes(GOLDEN_BYTES_VALUES[label]).hex() == GOLDEN_BYTES[label]
