"""``EntryMap``: entries found by a bulk lookup, each decoded from its record when read."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, cast

from .entries import Entry, decode_entries, decode_entry, inline_payloads
from .errors import CorruptArtifactError

__all__ = ["EntryMap"]

_key_of = operator.itemgetter(Entry._fields.index("key"))


class EntryMap(MutableMapping[str, Entry]):
    """Entries by key; a bulk lookup keeps each found record as its (checked) bytes and
    decodes it when it is first read.

    A lookup of many keys then creates no object per entry up front: a reader decodes
    the block it needs with :meth:`get_many`, in the processor's caches, and keeps
    nothing it has not asked for. Reading one entry (``map[key]``) decodes and keeps it.

    A record that does not decode, or holds another key than the one it was found
    under, raises ``CorruptArtifactError`` when read.

    Examples
    --------
    >>> import tempfile
    >>> from exca.store import Store
    >>> ns = Store(tempfile.mkdtemp()).namespace("results")
    >>> with ns.batch():
    ...     for key in "abc":
    ...         _ = ns.put(key, key.upper())
    >>> found = ns.find(["a", "c", "z"])
    >>> sorted(found), found["a"].status
    (['a', 'c'], 'success')
    >>> [ns.load(entry) for entry in found.get_many(["c", "z", "a"]) if entry is not None]
    ['C', 'A']
    """

    __slots__ = ("_items", "_where", "damaged")

    def __init__(
        self,
        items: dict[str, Entry | bytes] | None = None,
        where: object = None,
        damaged: dict[str, str] | None = None,
    ) -> None:
        self._items: dict[str, Entry | bytes] = {} if items is None else items
        self._where = where  # names the records' origin in errors
        #: keys looked up whose record cannot be trusted (not in the map), with why
        self.damaged: dict[str, str] = {} if damaged is None else damaged

    def __repr__(self) -> str:
        return f"EntryMap({len(self)} entries from {self._where})"

    def __getitem__(self, key: str) -> Entry:
        item = self._items[key]
        if type(item) is bytes:
            item = self._items[key] = _decode_as(key, item, self._where)
        return item  # type: ignore[return-value]  # an Entry once decoded

    def __setitem__(self, key: str, entry: Entry) -> None:
        self._items[key] = entry
        if self.damaged:
            self.damaged.pop(key, None)

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def discard(self, key: str) -> None:
        """Forget ``key`` if present, without decoding its record."""
        self._items.pop(key, None)

    def update(self, other: Any = (), /, **kwargs: Entry) -> None:
        """Add entries; records of another ``EntryMap`` are taken as they are (undecoded),
        with the keys it found damaged (those it holds are no longer damaged here)."""
        if isinstance(other, EntryMap) and (self.damaged or other.damaged):
            self.damaged = {k: r for k, r in self.damaged.items() if k not in other._items}
            self.damaged.update(other.damaged)
        if isinstance(other, EntryMap) and not kwargs:
            if self._where is None:
                self._where = other._where
            if other._where == self._where or all(
                type(i) is not bytes for i in other._items.values()
            ):
                self._items.update(other._items)
                return
        super().update(other, **kwargs)

    def select(self, keys: Iterable[str]) -> EntryMap:
        """The entries of those of ``keys`` present, as a new map (nothing decoded)."""
        items = self._items
        if not items:
            return EntryMap(where=self._where)
        return EntryMap({key: items[key] for key in keys if key in items}, self._where)

    def get_many(self, keys: Sequence[str]) -> Sequence[Entry | None]:
        """The entry of each key (None where absent); records decoded together, not kept."""
        items = list(map(self._items.get, keys))
        if set(map(type, items)) == {bytes}:  # the common case: a block of found records
            entries = decode_entries(cast(list[bytes], items), self._where)
            if list(map(_key_of, entries)) == list(keys):
                return entries
        return [
            _decode_as(key, item, self._where) if isinstance(item, bytes) else item
            for key, item in zip(keys, items, strict=True)
        ]

    def inline_payloads(self, keys: Sequence[str]) -> tuple[str, int, list[bytes]] | None:
        """:func:`~exca.store.entries.inline_payloads` of the records of ``keys`` (None
        also when one is absent or was decoded already)."""
        records = list(map(self._items.get, keys))
        if set(map(type, records)) != {bytes}:
            return None
        return inline_payloads(cast(list[bytes], records), list(keys))

    def decoded(self) -> dict[str, Entry]:
        """Every entry, decoded; a record holding another key than its own is left out."""
        return decoded(self._items, self._where)


def _decode_as(key: str, record: bytes, where: object) -> Entry:
    entry = decode_entry(record, where)
    if entry.key != key:  # a 128-bit digest collision never happens: a damaged store
        raise CorruptArtifactError(
            where, f"the record found for key {key!r} holds key {entry.key!r}"
        )
    return entry


def decoded(items: Mapping[str, Entry | bytes], where: object) -> dict[str, Entry]:
    """``items`` with every record decoded; a record holding another key is left out."""
    keys, values = list(items), list(items.values())
    if set(map(type, values)) == {bytes}:  # all undecoded: in bulk
        entries = decode_entries(cast(list[bytes], values), where)
        if list(map(_key_of, entries)) == keys:
            return dict(zip(keys, entries, strict=True))
    out: dict[str, Entry] = {}
    pending: list[tuple[str, bytes]] = []
    for key, item in items.items():
        if isinstance(item, bytes):
            pending.append((key, item))
        else:
            out[key] = item
    records = [record for _, record in pending]
    for (key, _), entry in zip(pending, decode_entries(records, where), strict=True):
        if entry.key == key:
            out[key] = entry
    return out
