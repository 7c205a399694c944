"""``Step.CACHE_TYPE`` names: store codec names, and the format names of exca 0.6.0.

Each exca 0.6.0 name maps onto the codec that serves the same intent:

==========================  =============================================================
``MemmapArray``             ``npy``, read back as a memory map
``NumpyArray``              ``npy``, read back into RAM
``ContiguousMemmapArray``   ``npy``
``Pickle``                  ``pickle``
``Json``                    ``msgpack`` (JSON-like values, tuples and sets kept exact)
``Auto``                    ``nested`` for containers, else the automatic choice
``AutoPickle``              ``nested`` for containers it can store, else ``pickle``
``PandasDataFrame``         ``parquet``
``ParquetPandasDataFrame``  ``parquet``
``TorchTensor``             ``torch`` if such a codec is registered, else ``pickle``
==========================  =============================================================
"""

from __future__ import annotations

import dataclasses
import typing as tp

__all__ = ["CacheType", "resolve", "LEGACY_NAMES"]

_BUILTIN_CODECS = ("msgpack", "npy", "zarr", "nested", "pickle", "parquet")


@dataclasses.dataclass(frozen=True, slots=True)
class CacheType:
    """How a step's values are stored: a codec (or a choice rule) and a RAM preference."""

    name: str
    codec: str | None  # None: chosen per value
    keep_in_ram: bool = False  # load into RAM even when the backend memory-maps
    containers: str | None = None  # codec for containers it accepts, before `codec`

    def codec_for(self, value: object) -> str | None:
        """The codec name to store ``value`` with (None: the store's automatic choice)."""
        if self.containers is not None:
            from exca.store.codecs import get_codec

            if get_codec(self.containers).accepts(value):
                return self.containers
        if self.codec == "torch":
            return "torch" if _has_codec("torch") else "pickle"
        return self.codec


LEGACY_NAMES: dict[str, CacheType] = {
    "MemmapArray": CacheType("MemmapArray", "npy"),
    "NumpyArray": CacheType("NumpyArray", "npy", keep_in_ram=True),
    "ContiguousMemmapArray": CacheType("ContiguousMemmapArray", "npy"),
    "Pickle": CacheType("Pickle", "pickle"),
    "Json": CacheType("Json", "msgpack"),
    "Auto": CacheType("Auto", None, containers="nested"),
    "AutoPickle": CacheType("AutoPickle", "pickle", containers="nested"),
    "PandasDataFrame": CacheType("PandasDataFrame", "parquet"),
    "ParquetPandasDataFrame": CacheType("ParquetPandasDataFrame", "parquet"),
    "TorchTensor": CacheType("TorchTensor", "torch"),
}


def resolve(name: str | None, *, where: str = "CACHE_TYPE", check: bool = False) -> CacheType:
    """The cache type called ``name`` (``None``: chosen per value).

    Built-in codec names and exca 0.6.0 names are checked here; another name must be a
    registered codec, checked when ``check`` is true (at first use, as registration may
    come after the step class is defined).
    """
    if name is None:
        return CacheType("auto", None)
    if not isinstance(name, str):
        raise TypeError(f"{where} must be a str or None, got {type(name).__name__}: {name!r}")
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    if check and name not in _BUILTIN_CODECS and not _has_codec(name):
        from exca.store.codecs import codec_names

        known = sorted({*codec_names(), *LEGACY_NAMES})
        raise ValueError(
            f"unknown {where} {name!r}; known names: {', '.join(known)}. Register a custom "
            "codec with exca.store.register_codec(codec) before the step first runs"
        )
    return CacheType(name, name)


def _has_codec(name: str) -> bool:
    from exca.store.codecs import codec_names

    return name in codec_names()


def for_step(step: tp.Any) -> CacheType:
    """The cache type of a step (a chain stores with its last step's unless it sets one)."""
    from . import _uid

    cls = type(step)
    name = cls.CACHE_TYPE
    # (on the class: a missing attribute of a pydantic instance costs an exception)
    if name is None and hasattr(cls, "_step_list"):
        return for_step(_uid.uid_steps(step)[-1])
    return resolve(name, where=f"{cls.__name__}.CACHE_TYPE", check=True)
