"""``Namespace``: the keyed entries of one folder of a store, encoded through codecs."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import write_buffer
from .buffered_publish import publish_buffered
from .bulk_decode import NO_OBJECTS, codec_of, decode_entries_values, decode_inline_values
from .cached_errors import storable_error
from .codecs import choose_codec, get_codec
from .codecs.base import Encoded, KeptDecoder, ObjectReader
from .damage import Damage, warn_damaged
from .entries import Entry, new_entry
from .entry_map import EntryMap
from .entry_table import EntryTable
from .errors import CorruptArtifactError
from .layered_find import find_through
from .read_folders import PickleRefusingTable
from .store import check_folder_path
from .write_buffer import WriteBuffer

if TYPE_CHECKING:
    from .object_reads import ReadableObjects
    from .store import Store

__all__ = ["Namespace"]

_BUFFER_LIMIT = 65536  # buffered entries flushed as one pack beyond this


class Namespace:
    """Entries of ``store.folder / relpath``, read through the store's layers.

    Keys are strings. Values are encoded by a codec chosen by name or by value type.
    Inside :meth:`batch`, entries are buffered and published together as one pack.
    """

    def __init__(self, store: Store, relpath: Path) -> None:
        if relpath.is_absolute() or ".." in relpath.parts:
            raise ValueError(f"namespace path must be relative and inside the store: {relpath}")
        self.store = store
        self.relpath = relpath
        self.folder = store.folder / relpath
        check_folder_path(self.folder, "entry folder")
        self._table = EntryTable(self.folder, durable=store.durable, read_only=store.read_only)
        tables = [EntryTable(layer.folder / relpath, read_only=True) for layer in store.layers]
        self._layers: list[EntryTable] | list[PickleRefusingTable] = tables
        if store.read_folder_pickle == "refuse":
            self._layers = [
                PickleRefusingTable(table, layer.folder, self.folder)
                for table, layer in zip(tables, store.layers, strict=True)
            ]
        self._tables: tuple[EntryTable | PickleRefusingTable, ...] = (self._table, *self._layers)
        self._local = threading.local()  # each thread batches its own writes
        self._readers: dict[bool, ReadableObjects] = {}

    def __repr__(self) -> str:
        return f"Namespace({str(self.folder)!r})"

    # ----------------------------------------------------------------- writing
    def put(
        self,
        key: str,
        value: Any,
        *,
        codec: str | None = None,
        duration: float | None = None,
    ) -> Entry:
        """Store ``value`` under ``key`` (replacing any previous entry) and return its entry.

        A payload whose object exists already is not written again once that object's
        content checks out (a damaged one is replaced).
        """
        _check_key(key)
        chosen = get_codec(codec) if codec is not None else choose_codec(value)
        self.store.check_writable("write a value")
        encoded = chosen.encode(value, self.store.object_writer)  # a refused value writes nothing
        self.store.prepare_write("write a value")
        entry = new_entry(key, "success", chosen.name, chosen.version, encoded, duration=duration)
        self._publish(entry)
        return entry

    def put_error(self, key: str, error: BaseException, *, duration: float | None = None) -> Entry:
        """Store a computation's exception under ``key`` (with its traceback text)."""
        _check_key(key)
        storable, text = storable_error(error)
        codec = get_codec("pickle")
        self.store.check_writable("write an error")
        encoded = codec.encode(storable, self.store.object_writer)
        self.store.prepare_write("write an error")
        entry = new_entry(
            key, "error", codec.name, codec.version, encoded, duration=duration, error_text=text
        )
        self._publish(entry)
        return entry

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it was present."""
        _check_key(key)
        try:
            present = self.entry(key) is not None
        except CorruptArtifactError:
            present = True  # a damaged record: a tombstone hides it from now on
        if present:
            self.store.prepare_write("delete an entry")
            tombstone = new_entry(key, "deleted", "", 0, Encoded(None))
            self._publish(tombstone)
        return present

    @property
    def _batch(self) -> WriteBuffer | None:
        return getattr(self._local, "batch", None)

    @property
    def _buffer(self) -> dict[str, Entry] | None:
        """This thread's buffered entries (read with single lookups: see WriteBuffer)."""
        batch = getattr(self._local, "batch", None)
        return None if batch is None else batch.entries

    def _publish(self, entry: Entry) -> None:
        batch = self._batch
        if batch is None:
            self._table.put(entry)
        elif batch.add(entry) >= _BUFFER_LIMIT:
            batch.flush()

    @contextmanager
    def batch(self, *, flush_every: float | None = None) -> Iterator[None]:
        """Buffer this thread's writes and publish them as one pack when the block ends
        (nestable: the outer block decides). Other threads and processes see them from
        then on; with ``flush_every``, also whenever the oldest waited that many seconds
        (from a thread of the process: a slow write does not hold back earlier ones)."""
        if self._batch is not None:
            yield
            return
        batch = self._local.batch = WriteBuffer(self._publish_buffered, flush_every)
        if flush_every is not None:
            write_buffer.watch(batch)
        try:
            yield
        finally:
            try:
                if flush_every is not None:
                    write_buffer.forget(batch)
                batch.flush()
            finally:
                self._local.batch = None

    def flush(self) -> None:
        """Publish buffered writes now."""
        if self._batch is not None:
            self._batch.flush()

    def _publish_buffered(self, entries: list[Entry]) -> None:
        publish_buffered(entries, self.store, self._table)

    def pack(self) -> int:
        """Pack loose entries (done by writers; never needed for correctness)."""
        self.store.check_can_write("pack entries")
        return self._table.pack()

    # ----------------------------------------------------------------- reading
    def entry(self, key: str) -> Entry | None:
        """The entry of ``key`` (success or error), or None. Reads no payload.

        Raises ``CorruptArtifactError`` when the key's record cannot be trusted: it
        fails its check, or a pack of the folder is damaged and may hold a newer record
        of it than the one found, if any (see :meth:`find`, which reports such keys
        instead of raising).
        """
        if type(key) is not str:
            _check_key(key)
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            buffered = batch.entries.get(key)  # (one atomic lookup: see WriteBuffer)
            if buffered is not None:
                return _visible(buffered)
        for table in self._tables:
            found = table.get(key)
            if found is not None:
                return None if found.status == "deleted" else found
        return None

    def entry_root(self, key: str) -> Path | None:
        """The root folder of the store (this one or a layer) whose entry of ``key`` is
        the one :meth:`entry` returns, or None when there is none."""
        _check_key(key)
        buffered = self._buffer.get(key) if self._buffer else None  # (one atomic lookup)
        if buffered is not None:
            return None if _visible(buffered) is None else self.store.folder
        stores = (self.store, *self.store.layers)
        for table, store in zip((self._table, *self._layers), stores, strict=True):
            found = table.get(key)
            if found is not None:
                return None if _visible(found) is None else store.folder
        return None

    def entries(self, keys: Iterable[str]) -> dict[str, Entry]:
        """Entries of the ``keys`` present; a few file operations whatever their number."""
        return self.find(keys).decoded()

    def find(self, keys: Iterable[str]) -> EntryMap:
        """:meth:`entries`, each decoded only when read: the lookup of many keys creates
        no object per entry until a reader asks for it (see :class:`EntryMap`).

        Keys whose record cannot be trusted are left out of the map and listed, with
        why, in its ``damaged`` mapping: a reader treats them as misses (recomputes
        them, or reports them), never as values.
        """
        wanted = keys if isinstance(keys, list) else list(keys)  # (repeated keys are harmless)
        if not set(map(type, wanted)) <= {str}:  # (one C-level pass when all are str)
            for key in wanted:
                _check_key(key)
        return find_through(wanted, self._buffer, self._tables, self.folder)

    def load(
        self, entry: Entry, keep_in_ram: bool = False, reader: ObjectReader | None = None
    ) -> Any:
        """Decode the value of a success entry (``CorruptArtifactError`` if damaged);
        ``reader``: one of :meth:`reader`, for a value of a block read together."""
        codec = get_codec(entry.codec)
        if reader is None:  # (an entry without objects needs no object store)
            reader = self._reader(keep_in_ram) if entry.objects else NO_OBJECTS
        return codec.decode(entry.encoded, reader, entry.codec_version)

    def reader(self, keep_in_ram: bool = False) -> ObjectReader:
        """The objects as they are now, to :meth:`load` a block of values read together
        (memory-mapped objects opened before are then reused at the cost of a look at
        the store's generation per block, instead of a ``stat`` per object, see
        :mod:`.mapped`). Take one per block, as its values are read, never for longer.
        """
        return self._reader(keep_in_ram).as_of_now()

    def load_many(self, entries: Sequence[Entry], keep_in_ram: bool = False) -> list[Any]:
        """:meth:`load` of each success entry, in order: the same values, faster.

        All values are in memory together: pass a few entries at a time (a block of a
        larger read). A damaged value raises the ``CorruptArtifactError`` that
        :meth:`load` raises for it; so does any other error of :meth:`load`.

        Examples
        --------
        >>> import tempfile
        >>> from exca.store import Store
        >>> ns = Store(tempfile.mkdtemp()).namespace("results")
        >>> for key in "abc":
        ...     _ = ns.put(key, {"key": key})
        >>> entries = ns.entries("abc")
        >>> ns.load_many([entries[key] for key in "abc"])
        [{'key': 'a'}, {'key': 'b'}, {'key': 'c'}]
        """
        return decode_entries_values(entries, lambda: self.reader(keep_in_ram))

    def load_kept(self, entries: Sequence[Entry], reader: ObjectReader) -> list[Any] | None:
        """:meth:`load` of each success entry, when all are of one codec that decodes
        them from what ``reader`` (one of :meth:`reader`) keeps in memory already:
        memory maps of small objects opened before (no system call, nothing held that
        is not kept anyway); None otherwise: read those one by one."""
        kinds = set(map(codec_of, entries))
        if len(kinds) != 1:
            return None
        ((name, version),) = kinds
        codec = get_codec(name)
        if not isinstance(codec, KeptDecoder):
            return None
        return codec.decode_kept([entry.encoded for entry in entries], reader, version)

    def load_inline(self, found: EntryMap, keys: Sequence[str]) -> list[Any] | None:
        """The values of ``keys`` straight from their records in ``found`` (no ``Entry``
        made), when each is a success entry held wholly inline (a small value) by one
        codec that decodes many at once; None otherwise: read those with
        :meth:`load_many`. A damaged value raises as :meth:`load_many` would.
        """
        return decode_inline_values(found, keys)

    def load_error(self, entry: Entry) -> BaseException:
        """The exception cached by an error entry."""
        error = self.load(entry, keep_in_ram=True)
        if not isinstance(error, BaseException):
            raise TypeError(f"entry {entry.key!r} does not hold an exception")
        return error

    def iter_entries(self) -> Iterator[Entry]:
        """The entry of every key (unordered), layers included.

        Damaged records are skipped (their keys are misses), with one warning once the
        listing ends saying how many and what to run.
        """
        seen: set[str] = set()
        damaged: list[Damage] = []
        buffered = list(self._buffer.values()) if self._buffer else []
        tables = (t.iter_entries(damaged) for t in (self._table, *self._layers))
        for table_entries in (buffered, *tables):
            for entry in table_entries:
                if entry.key not in seen:
                    seen.add(entry.key)
                    if entry.status != "deleted":
                        yield entry
        if damaged:
            reasons = [f"{d.path}: {d.reason}" for d in damaged]
            warn_damaged(self.folder, reasons, self.store.folder)

    def keys(self) -> Iterator[str]:
        """Every key with an entry (unordered), layers included."""
        return (entry.key for entry in self.iter_entries())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.entry(key) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def _reader(self, keep_in_ram: bool) -> ReadableObjects:
        reader = self._readers.get(keep_in_ram)
        if reader is None:  # (reading needs none of the modules that publish objects)
            objects = self.store.readable_objects
            reader = self._readers[keep_in_ram] = objects.reading_into_ram(keep_in_ram)
        return reader


def _visible(entry: Entry) -> Entry | None:
    return None if entry.status == "deleted" else entry


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(
            f"store keys must be str, got {type(key).__module__}.{type(key).__qualname__} "
            f"({key!r:.80}); convert it with str(), or derive one with exca.store.key_of(value)"
        )
