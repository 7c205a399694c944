"""Contract of the codec registry: built-in codecs by name, registration of custom codecs
(clashes refused unless replacing), helpful errors for unknown names, the automatic
choice table, and no import of zarr, pandas or pyarrow until a codec needs them."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import exca.store.codecs as registry
from exca.store.codecs import choose_codec, codec_names, get_codec, register_codec
from exca.store.codecs.base import Codec, Encoded, ObjectReader, ObjectWriter
from exca.store.errors import UnknownCodecError

pd = pytest.importorskip("pandas")
BUILT_IN = ["msgpack", "nested", "npy", "parquet", "pickle", "zarr"]


class UpperCodec:
    """A custom codec for str values written in capitals."""

    name = "upper"
    version = 1

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.isupper()

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        return Encoded(inline=value.encode())

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        assert encoded.inline is not None
        return encoded.inline.decode()


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_codecs", dict(registry._codecs))
    monkeypatch.setattr(registry, "_custom", list(registry._custom))
    yield


def test_every_built_in_codec_is_known_by_name_and_satisfies_the_protocol() -> None:
    assert codec_names() == BUILT_IN
    for name in BUILT_IN:
        codec = get_codec(name)
        assert isinstance(codec, Codec) and codec.name == name and codec.version == 1
        assert get_codec(name) is codec


def test_unknown_name_lists_known_codecs_and_how_to_register() -> None:
    with pytest.raises(UnknownCodecError, match="unknown codec 'hdf5'.*msgpack, nested") as info:
        get_codec("hdf5")
    assert "register_codec" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_registered_codec_is_found_by_name_and_listed() -> None:
    codec = UpperCodec()
    register_codec(codec)
    assert get_codec("upper") is codec and "upper" in codec_names()


@pytest.mark.parametrize("name", ["upper", "msgpack"])
def test_name_clash_is_refused_unless_replacing(name: str) -> None:
    register_codec(UpperCodec())
    clashing = UpperCodec()
    clashing.name = name
    with pytest.raises(ValueError, match=f"{name!r} is already registered.*replace=True"):
        register_codec(clashing)
    register_codec(clashing, replace=True)
    assert get_codec(name) is clashing


@pytest.mark.parametrize(
    ("candidate", "message"),
    [(object(), "expects a codec.*got builtins.object"), ("npy", "got builtins.str")],
)
def test_registering_a_non_codec_names_what_was_received(candidate: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        register_codec(candidate)


def test_registering_a_codec_with_a_bad_version_is_refused() -> None:
    codec = UpperCodec()
    codec.version = 0
    with pytest.raises(TypeError, match="version must be an int >= 1, got 0"):
        register_codec(codec)


def test_custom_codec_is_chosen_before_built_ins_for_values_it_accepts() -> None:
    register_codec(UpperCodec())
    assert choose_codec("LOUD").name == "upper"
    assert choose_codec("quiet").name == "msgpack"


CHOICES = {
    "float array": (np.zeros((3, 3)), "npy"),
    "tiny array": (np.zeros(2, "u1"), "npy"),
    "structured array": (np.zeros(2, "i4,f8"), "npy"),
    "memory map": (np.zeros(3).view(np.memmap), "npy"),
    "object array": (np.array([1, "a"], dtype=object), "pickle"),
    "masked array": (np.ma.masked_array([1, 2], mask=[0, 1]), "pickle"),
    "numpy scalar": (np.float32(1), "msgpack"),
    "JSON-like": ({"a": [1, 2.5, None, "x"]}, "msgpack"),
    "tuple with a tiny array": ((1, np.arange(3)), "msgpack"),
    "dict with a large array": ({"a": np.arange(10_000)}, "nested"),
    "list with an object array": ([np.array([None])], "pickle"),
    "safe DataFrame": (pd.DataFrame({"a": [1.0]}), "parquet"),
    "DataFrame with an object column": (pd.DataFrame({"a": [1, "x"]}, dtype=object), "pickle"),
    "custom object": (UpperCodec(), "pickle"),
    "bytearray": (bytearray(b"x"), "pickle"),
}


@pytest.mark.parametrize(("value", "expected"), CHOICES.values(), ids=CHOICES.keys())
def test_automatic_choice_follows_the_table(value: Any, expected: str) -> None:
    assert choose_codec(value).name == expected


def test_zarr_array_is_chosen_for_zarr(tmp_path: Any) -> None:
    zarr = pytest.importorskip("zarr")
    array = zarr.create_array(tmp_path / "a.zarr", shape=(2,), dtype="f4")
    assert choose_codec(array).name == "zarr"


def test_importing_and_choosing_leaves_zarr_pandas_and_pyarrow_unimported() -> None:
    code = (
        "import sys, numpy as np, exca.store, exca.store.codecs as c\n"
        "for v in (1, np.zeros(3), {'a': np.zeros(9999)}, object()): c.choose_codec(v)\n"
        "for name in c.codec_names(): c.get_codec(name)\n"
        "print(sorted(m for m in ('zarr', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


MODULES = [
    "exca.store.codecs",
    "exca.store.codecs.msgpack_codec",
    "exca.store.codecs.zarr_codec",
    "exca.store.codecs._packable",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0
