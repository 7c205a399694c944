"""``CacheDict``: the dict-like view of a store folder that exca users know."""

from __future__ import annotations

import os
from collections.abc import (
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    Sequence,
    ValuesView,
)
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .damage import warn_damaged
from .entries import Entry
from .entry_map import EntryMap
from .errors import CorruptArtifactError
from .read_folders import ReadFolderPickle
from .store import Store

if TYPE_CHECKING:
    from .objects import VerifyReads

__all__ = ["CacheDict"]

_BLOCK = 256  # values decoded together by bulk reads (one block in RAM beyond the result)


class CacheDict(MutableMapping[str, Any]):
    """A persistent mapping from string keys to values, stored in ``folder``.

    A full ``MutableMapping``: ``pop``, ``popitem``, ``setdefault``, ``update``,
    ``clear`` and the ``keys()``/``items()``/``values()`` views work as on a dict.
    Its keys are those holding a value: an error a step cached is no value (``cd[key]``
    raises ``KeyError`` saying so), and a damaged record is a miss, skipped by listings
    and ``get_many`` with one warning (``cd[key]`` raises ``CorruptArtifactError``).

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
    layers, read_folder_pickle, read_only, durable, verify_reads:
        As for :class:`Store`: read folders beneath this one, and whether their
        pickle-coded entries are served (``"allow"``) or are misses (``"refuse"``).

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
        read_folder_pickle: ReadFolderPickle | None = None,
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
                             layers=tuple(layers), read_folder_pickle=read_folder_pickle)  # fmt: skip
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
            error = self.namespace.load_error(entry)
            raise KeyError(
                f"{key!r} holds no value in {self.folder}: its computation failed "
                f"({type(error).__name__}: {error}); the cached error is chained"
            ) from error
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

    def clear(self) -> None:
        """Delete every entry (cached errors included), published together."""
        self._ram.clear()
        with self.write():
            for entry in list(self.namespace.iter_entries()):
                self.namespace.delete(entry.key)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Write every pair of ``other`` (a mapping or pairs) and ``kwargs``, together."""
        pairs = other.items() if isinstance(other, Mapping) else other
        with self.write():
            for key, value in pairs:
                self[key] = value
            for key, value in kwargs.items():
                self[key] = value

    def __contains__(self, key: object) -> bool:
        if key in self._ram:
            return True
        if not isinstance(key, str):
            return False
        try:
            entry = self.namespace.entry(key)
        except CorruptArtifactError as err:
            warn_damaged(self.folder, [f"{key!r}: {err.path}: {err.detail}"], self._root)
            return False
        return entry is not None and entry.status == "success"

    def __len__(self) -> int:
        return sum(1 for _ in self._successes())

    def __iter__(self) -> Iterator[str]:
        return (entry.key for entry in self._successes())

    def _successes(self) -> Iterator[Entry]:
        return (e for e in self.namespace.iter_entries() if e.status == "success")

    def keys(self) -> KeysView[str]:
        return KeysView(self)

    def items(self) -> ItemsView[str, Any]:
        return _Items(self)

    def values(self) -> ValuesView[Any]:
        return _Values(self)

    def get_many(self, keys: Iterable[str], default: Any = None) -> list[Any]:
        """The value of each of ``keys``, in order, ``default`` where absent: what
        ``[cd.get(key, default) for key in keys]`` returns, in a few file operations
        whatever the number of keys (small values are decoded together).

        A cached error, or a damaged record (with a warning), counts as absent.

        Examples
        --------
        >>> cache = CacheDict(tmp_folder / "scores")
        >>> with cache.write():
        ...     for name, score in [("a", 0.5), ("b", 0.75)]:
        ...         cache[name] = score
        >>> cache.get_many(["b", "missing", "a"])
        [0.75, None, 0.5]
        """
        wanted = list(keys)
        found = self.namespace.find([key for key in wanted if key not in self._ram])
        if found.damaged:
            reasons = [f"{k!r}: {why}" for k, why in found.damaged.items()]
            warn_damaged(self.folder, reasons, self._root)
        values: list[Any] = []
        for start in range(0, len(wanted), _BLOCK):
            values += self._read_block(found, wanted[start : start + _BLOCK], default)
        return values

    def _read_block(self, found: EntryMap, keys: list[str], default: Any) -> list[Any]:
        if not self._ram and not self.keep_in_ram:
            inline = self.namespace.load_inline(found, keys)  # small values: fastest
            if inline is not None:
                return inline
        entries = found.get_many(keys)
        if not self._ram and all(e is not None and e.status == "success" for e in entries):
            return self._load_entries(entries)  # type: ignore[arg-type]
        return [
            self._value_of(key, entry, default) for key, entry in zip(keys, entries, strict=True)
        ]

    def _value_of(self, key: str, entry: Entry | None, default: Any) -> Any:
        if key in self._ram:
            return self._ram[key]
        if entry is None or entry.status == "error":
            return default
        return self._load_entries([entry])[0]

    def _load_entries(self, entries: list[Entry]) -> list[Any]:
        """The values of success entries, kept in RAM if asked; a damaged one raises
        ``CorruptArtifactError`` naming its key."""
        try:
            values = self.namespace.load_many(entries, self.keep_in_ram)
        except CorruptArtifactError as err:
            if len(entries) == 1:
                err.add_note(f"while reading key {entries[0].key!r} of {self!r}")
                raise
            values = [self._load_entries([entry])[0] for entry in entries]  # which one?
        if self.keep_in_ram:
            self._ram.update(zip((entry.key for entry in entries), values, strict=True))
        return values

    def _iter_items(self) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)``, values decoded in blocks (a damaged one raises, naming it)."""
        block: list[Entry] = []
        for entry in self._successes():
            if entry.key in self._ram:
                yield entry.key, self._ram[entry.key]
                continue
            block.append(entry)
            if len(block) == _BLOCK:
                yield from self._items_of(block)
                block = []
        yield from self._items_of(block)

    def _items_of(self, entries: list[Entry]) -> Iterator[tuple[str, Any]]:
        if entries:
            keys = [entry.key for entry in entries]
            yield from zip(keys, self._load_entries(entries), strict=True)

    def __getstate__(self) -> dict[str, Any]:
        # a fresh view on unpickling: the RAM contents stay with this process
        return {"folder": self.folder, "keep_in_ram": self.keep_in_ram,
                "cache_type": self.cache_type, "root": self._root, "options": self._options}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["folder"], state["keep_in_ram"], state["cache_type"], root=state["root"],
            **state["options"],
        )  # fmt: skip


class _Items(ItemsView[str, Any]):
    """``cd.items()``: iterating it reads values in blocks, not one lookup per key."""

    _mapping: CacheDict

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self._mapping._iter_items()


class _Values(ValuesView[Any]):
    """``cd.values()``: iterating it reads values in blocks, not one lookup per key."""

    _mapping: CacheDict

    def __iter__(self) -> Iterator[Any]:
        return (value for _, value in self._mapping._iter_items())
