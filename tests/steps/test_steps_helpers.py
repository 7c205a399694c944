"""Contract: Func wraps functions named by an import path as steps (refusing the others), and
CACHE_TYPE names choose how results are stored."""

from __future__ import annotations

import functools
import os.path
import types
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Chain, Step, cache_types
from exca.steps.errors import FunctionPathError
from exca.steps.helpers import Func


def scale(x: float, factor: float = 2.0) -> float:
    return x * factor


def two(a: int, b: int) -> int:
    return a + b


def count(n: int = 3) -> list[int]:
    return list(range(n))


def reserved(function: tp.Any, x: int) -> int:
    return x


def test_func_detects_its_input_and_validates_kwargs_against_the_signature() -> None:
    assert Func(function=scale, factor=3.0).run(5.0) == 15.0
    assert Func(function=count, n=2).run() == [0, 1]
    assert Func(function=two, input_param="a", b=1).run(2) == 3
    assert Func(function="os.path.basename").run("a/b") == "b"
    bad = [
        ({"function": two}, "2 required parameters"),
        ({"function": scale, "nope": 3}, "not a parameter"),
        ({"function": scale, "factor": "abc"}, "valid number"),
        ({"function": scale, "x": 3}, "input parameter"),
        ({"function": two, "input_param": "c"}, "not a parameter"),
        ({"function": reserved}, "reserved by Func"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            Func(**kwargs)


def test_a_callable_and_its_dotted_path_have_the_same_identity(tmp_path: Path) -> None:
    infra = {"backend": "Cached", "folder": tmp_path}
    live = Func(function=os.path.basename, infra=infra).lookup("a/b").paths
    dotted = Func(function="posixpath.basename", infra=infra).lookup("a/b").paths
    assert live == dotted
    assert Func(function=scale, factor=3.0).model_dump(mode="json")["function"].endswith(".scale")


def make_multiplier(factor: int) -> tp.Callable[[int], int]:
    def multiply(x: int) -> int:
        return x * factor

    return multiply


class Scaler:
    def apply(self, x: int) -> int:
        return x

    def __call__(self, x: int) -> int:
        return x


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (lambda x: x + 1, "a lambda has no import path"),
        (make_multiplier(2), "multiply is defined inside another function"),
        (functools.partial(scale, factor=3.0), "functools.partial has no import path"),
        (Scaler().apply, "Scaler.apply is bound to"),
        (Scaler(), "Scaler object"),
        (types.FunctionType(scale.__code__, globals()), "names another object"),
    ],
    ids=["lambda", "closure", "partial", "bound-method", "instance", "copy"],
)
def test_func_refuses_a_callable_its_import_path_does_not_name(
    function: tp.Any, reason: str, tmp_path: Path
) -> None:
    with pytest.raises(FunctionPathError, match=reason) as info:
        Func(function=function, infra={"backend": "Cached", "folder": tmp_path})
    assert "Define a module-level function" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_functions_named_by_their_path_are_accepted_whatever_they_are_made_of() -> None:
    for function, path in [
        (np.sqrt, "numpy.sqrt"),  # a ufunc
        (str.upper, "builtins.str.upper"),  # a method of a builtin type
        (os.path.basename, "posixpath.basename"),
        (scale, f"{__name__}.scale"),
    ]:
        assert Func(function=function).model_dump(mode="json")["function"] == path


def test_func_steps_chain_and_clone() -> None:
    chain = Chain(steps=[Func(function=count, n=4), Func(function=len)])
    assert chain.run() == 4
    assert chain.clone({"steps.0.n": 2}).run() == 2


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("MemmapArray", "npy"),
        ("NumpyArray", "npy"),
        ("ContiguousMemmapArray", "npy"),
        ("Pickle", "pickle"),
        ("Json", "msgpack"),
        ("ParquetPandasDataFrame", "parquet"),
        ("PandasDataFrame", "parquet"),
        ("TorchTensor", "pickle"),
        ("npy", "npy"),
        ("msgpack", "msgpack"),
    ],
)
def test_cache_type_names_of_exca_0_6_map_onto_codecs(name: str, codec: str) -> None:
    assert cache_types.resolve(name).codec_for(np.zeros(2)) == codec


def test_auto_cache_types_choose_nested_for_containers() -> None:
    auto, auto_pickle = cache_types.resolve("Auto"), cache_types.resolve("AutoPickle")
    assert auto.codec_for({"a": np.zeros(10_000)}) == "nested"
    assert auto.codec_for(object()) is None
    assert auto_pickle.codec_for({"a": np.zeros(10_000)}) == "nested"
    assert auto_pickle.codec_for(object()) == "pickle"


def test_unknown_cache_type_is_a_clear_error_listing_known_names(tmp_path: Path) -> None:
    class Odd(Step):
        CACHE_TYPE = "NoSuchFormat"

        def _run(self, value: int) -> int:
            return value

    with pytest.raises(ValueError, match="unknown Odd.CACHE_TYPE 'NoSuchFormat'.*MemmapArray.*npy"):
        Odd(infra={"backend": "Cached", "folder": tmp_path}).run(1)  # type: ignore[arg-type]


def test_numpy_array_cache_type_loads_in_ram_and_memmap_array_maps(tmp_path: Path) -> None:
    class InRam(Step):
        CACHE_TYPE = "NumpyArray"

        def _run(self, value: int) -> np.ndarray:
            return np.full(10_000, value, dtype=np.float32)

    class Mapped(InRam):
        CACHE_TYPE = "MemmapArray"

    infra = {"backend": "Cached", "folder": tmp_path}
    InRam(infra=infra).run(1)  # type: ignore[arg-type]
    Mapped(infra=infra).run(1)  # type: ignore[arg-type]
    assert not isinstance(InRam(infra=infra).run(1), np.memmap)  # type: ignore[arg-type]
    assert isinstance(Mapped(infra=infra).run(1), np.memmap)  # type: ignore[arg-type]


def test_a_chain_stores_with_its_last_step_cache_type() -> None:
    class Last(Step):
        CACHE_TYPE = "Pickle"

        def _run(self, value: int) -> int:
            return value

    chain = Chain(steps=[Func(function=scale), Last()])
    assert cache_types.for_step(chain).codec == "pickle"
