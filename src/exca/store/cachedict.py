"""``CacheDict``: the dict-like view of a store folder that exca users know."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import CorruptArtifactError
from .objects import VerifyReads
from .store import Store

__all__ = ["CacheDict"]


class CacheDict:
    """A persistent mapping from string keys to values, stored in ``folder``.

    Parameters
    ----------
    folder:
        Where the entries live. It is its own store root unless ``root`` names an
        enclosing store folder (objects are then shared through that root).
    keep_in_ram:
        Keep values read or written in memory, and load arrays into RAM (verified)
        instead of memory-mapping them.
    cache_type:
        Codec name used for every value (``None``: chosen by value type).

    Examples
    --------
    >>> import numpy as np
    >>> cache = CacheDict(tmp_folder / "features")
    >>> with cache.write():
    ...     cache["x"] = np.arange(3)
    ...     cache["label"] = ("cat", 1)
    >>> cache["label"]
    ('cat', 1)
    >>> sorted(cache.keys())
    ['label', 'x']
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        keep_in_ram: bool = False,
        cache_type: str | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        read_only: bool = False,
        durable: bool = False,
        verify_reads: VerifyReads | None = None,
        layers: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        folder = Path(folder).expanduser().absolute()
        store_root = Path(root).expanduser().absolute() if root is not None else folder
        if store_root != folder and store_root not in folder.parents:
            raise ValueError(f"CacheDict folder {folder} is not inside its store root {store_root}")
        if cache_type is not None:
            from .codecs import get_codec

            get_codec(cache_type)  # unknown names fail here, before anything is written
        self.folder = folder
        self.keep_in_ram = keep_in_ram
        self.cache_type = cache_type
        self._options = dict(read_only=read_only, durable=durable, verify_reads=verify_reads,
                             layers=tuple(layers))  # fmt: skip
        self._root = store_root
        self._store = Store(store_root, **self._options)  # type: ignore[arg-type]
        self.namespace = self._store.namespace(folder.relative_to(store_root))
        self._ram: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"CacheDict({str(self.folder)!r}, keep_in_ram={self.keep_in_ram})"

    @property
    def store(self) -> Store:
        return self._store

    @contextmanager
    def write(self) -> Iterator[None]:
        """Group writes: entries are published together (one pack) when the block ends."""
        with self.namespace.batch():
            yield

    def __setitem__(self, key: str, value: Any) -> None:
        self.namespace.put(key, value, codec=self.cache_type)
        if self.keep_in_ram:
            self._ram[key] = value

    def __getitem__(self, key: str) -> Any:
        if key in self._ram:
            return self._ram[key]
        entry = self.namespace.entry(key)
        if entry is None:
            raise KeyError(key)
        if entry.status == "error":
            raise self.namespace.load_error(entry)
        value = self.namespace.load(entry, keep_in_ram=self.keep_in_ram)
        if self.keep_in_ram:
            self._ram[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __delitem__(self, key: str) -> None:
        self._ram.pop(key, None)
        if not self.namespace.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._ram or key in self.namespace

    def __len__(self) -> int:
        return len(self.namespace)

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def keys(self) -> Iterator[str]:
        return self.namespace.keys()

    def items(self) -> Iterator[tuple[str, Any]]:
        for entry in self.namespace.iter_entries():
            if entry.status != "success":
                continue
            key = entry.key
            if key in self._ram:
                yield key, self._ram[key]
                continue
            try:
                value = self.namespace.load(entry, self.keep_in_ram)
            except CorruptArtifactError as err:
                err.add_note(f"while reading key {key!r} of {self!r}")
                raise
            yield key, value

    def values(self) -> Iterator[Any]:
        for _, value in self.items():
            yield value

    def __getstate__(self) -> dict[str, Any]:
        # a fresh view on unpickling: the RAM contents stay with this process
        return {"folder": self.folder, "keep_in_ram": self.keep_in_ram,
                "cache_type": self.cache_type, "root": self._root, "options": self._options}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["folder"], state["keep_in_ram"], state["cache_type"], root=state["root"],
            **state["options"],
        )  # fmt: skip
