"""Entry records: the small per-key msgpack record naming a value's codec and objects."""

from __future__ import annotations

import functools
import operator
import os
import time
import typing as tp
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, Literal, NamedTuple

import msgpack
import xxhash

from .codecs.base import Encoded, ObjectRef
from .errors import CorruptArtifactError, FormatVersionError

__all__ = [
    "Entry",
    "Status",
    "ENTRY_FORMAT_VERSION",
    "encode_entry",
    "decode_entry",
    "decode_entries",
    "inline_payloads",
    "may_be_tombstones",
    "TOMBSTONE_STATUS",
    "seal",
    "unseal",
    "is_sealed",
    "SEAL_MAGIC",
    "key_digest",
    "key_digests",
    "new_entry",
]

Status = Literal["success", "error", "deleted"]
ENTRY_FORMAT_VERSION = 1
SEAL_MAGIC = b"EXE1"
#: The status of a tombstone as the writer encodes it in a record (a msgpack fixstr).
TOMBSTONE_STATUS = b"\xa7deleted"
_HOST = os.uname().nodename  # socket.gethostname(), without importing socket


class Entry(NamedTuple):
    """What the store knows of one cached key.

    An immutable named tuple (not a frozen dataclass) because bulk lookups decode one
    per key: tuple construction is several times cheaper.

    ``status`` is ``"success"`` or ``"error"`` (``"deleted"`` marks a tombstone and is
    never returned by the public API). ``error_text`` holds the traceback of a cached
    error. ``created`` is a Unix time; ``duration`` the seconds the computation took.
    """

    key: str
    status: Status
    codec: str
    codec_version: int
    inline: bytes | None
    objects: tuple[ObjectRef, ...]
    created: float
    duration: float | None = None
    host: str = ""
    pid: int = 0
    error_text: str | None = None

    @property
    def encoded(self) -> Encoded:
        return _new_tuple(Encoded, (self.inline, self.objects))  # (no argument checking)

    @property
    def size(self) -> int:
        """Bytes of the value: inline payload plus objects."""
        inline = len(self.inline) if self.inline is not None else 0
        return inline + sum(ref.size for ref in self.objects)


def new_entry(
    key: str,
    status: Status,
    codec: str,
    codec_version: int,
    encoded: Encoded,
    *,
    duration: float | None = None,
    error_text: str | None = None,
) -> Entry:
    return Entry(
        key=key,
        status=status,
        codec=codec,
        codec_version=codec_version,
        inline=encoded.inline,
        objects=encoded.objects,
        created=time.time(),
        duration=duration,
        host=_HOST,
        pid=os.getpid(),
        error_text=error_text,
    )


def key_digest(key: str) -> bytes:
    """16-byte digest naming an entry (file name of a loose entry, index key of a pack)."""
    return xxhash.xxh3_128_digest(key.encode("utf-8", "surrogatepass"))


def key_digests(keys: Iterable[str]) -> list[bytes]:
    """:func:`key_digest` of each of ``keys`` (one call for a bulk lookup)."""
    encoded = map(str.encode, keys, repeat("utf-8"), repeat("surrogatepass"))
    return list(map(xxhash.xxh3_128_digest, encoded))  # (no Python-level loop)


def encode_entry(entry: Entry) -> bytes:
    objects = [[ref.digest, ref.size, ref.suffix] for ref in entry.objects]
    record = [
        ENTRY_FORMAT_VERSION,
        entry.key,
        entry.status,
        entry.codec,
        entry.codec_version,
        entry.inline,
        objects,
        entry.created,
        entry.duration,
        entry.host,
        entry.pid,
        entry.error_text,
    ]
    return msgpack.packb(record, use_bin_type=True)


def decode_entry(data: bytes | memoryview, where: object) -> Entry:
    """Decode a record; ``where`` names its file in errors."""
    try:
        record = msgpack.unpackb(data, raw=False, use_list=False)
        if type(record) is not tuple or not record:
            raise ValueError(f"expected a list of {_RECORD_FIELDS} fields, got {record!r:.40}")
        if record[0] > ENTRY_FORMAT_VERSION:
            raise FormatVersionError(
                f"entry {where} has format version {record[0]}, this exca reads up to "
                f"{ENTRY_FORMAT_VERSION}; upgrade exca to read this store"
            )
        objects = record[6]
        if len(record) == _RECORD_FIELDS and type(objects) is tuple and not objects:
            # exactly Entry's fields: build the tuple without the (Python-level) checking
            # constructor, as every bulk hit decodes one of these
            return _new_tuple(Entry, record[1:])
        fields = list(record)
        fields[6] = tuple([ObjectRef(*ref) for ref in objects]) if objects else ()
        return Entry(*fields[1:])
    except (ValueError, msgpack.ExtraData, TypeError, IndexError) as err:
        raise CorruptArtifactError(where, f"unreadable entry record ({err})") from err


def decode_entries(records: Sequence[bytes], where: object) -> list[Entry]:
    """:func:`decode_entry` of each record (the same entries, the same first error).

    Records that refer to objects (each a slow decode: one ``ObjectRef`` per object) are
    remembered by their bytes in the process: a record decodes to the same entry
    whoever reads it, so a later lookup finding the same bytes (the same step instance
    again, a new one, another reader of the store) takes the entry as decoded then.
    """
    remembered = list(map(_DECODED.get, records))
    if None not in remembered:
        return tp.cast(list[Entry], remembered)
    entries: list[Entry] = []
    for start in range(0, len(records), _DECODE_CHUNK):
        chunk = records[start : start + _DECODE_CHUNK]
        try:
            decoded = [msgpack.unpackb(data, use_list=False) for data in chunk]  # raw=False
        except (ValueError, msgpack.ExtraData, TypeError):
            decoded = None
        if decoded is None or not _plain_records(decoded):
            entries += [_decode_remembered(data, where) for data in chunk]
        else:
            entries += map(_entry_of_record, map(_fields_of_record, decoded))
    return entries


def _decode_remembered(record: bytes, where: object) -> Entry:
    """:func:`decode_entry`, from (and into) the process's memory of records that refer
    to objects (small records only: a large inline payload is not kept twice)."""
    entry = _DECODED.get(record)
    if entry is None:
        entry = decode_entry(record, where)
        if entry.objects and len(record) <= _REMEMBERED_SIZE:
            if len(_DECODED) >= _REMEMBERED_RECORDS:
                _DECODED.clear()  # (rarely: simpler than an order of use, and thread-safe)
            _DECODED[record] = entry
    return entry


def _plain_records(decoded: list[Any]) -> bool:
    """Whether every record is a tuple of the current format holding no object
    references: :func:`decode_entry` would take the fields of each as they are."""
    return (
        set(map(type, decoded)) == {tuple}
        and set(map(len, decoded)) == {_RECORD_FIELDS}
        and set(map(_version_of_record, decoded)) == {ENTRY_FORMAT_VERSION}
        and list(map(_objects_of_record, decoded)).count(()) == len(decoded)
    )


def inline_payloads(
    records: Sequence[bytes], keys: Sequence[str]
) -> tuple[str, int, list[bytes]] | None:
    """For the records of ``keys`` when each is a success entry of the current format
    held wholly inline, all of one codec: that codec, its version and the payloads, in
    order. None when any record is anything else (decode those with
    :func:`decode_entries`, which says what is wrong with a damaged one).
    """
    payloads: list[bytes] = []
    shapes: set[Any] = set()
    if records and not _inline_shaped(records[0]):  # (values with objects: one look)
        return None
    for start in range(0, len(records), _DECODE_CHUNK):
        chunk = records[start : start + _DECODE_CHUNK]
        try:
            decoded = [msgpack.unpackb(data, use_list=False) for data in chunk]  # raw=False
        except (ValueError, msgpack.ExtraData, TypeError):
            return None
        if set(map(type, decoded)) != {tuple} or set(map(len, decoded)) != {_RECORD_FIELDS}:
            return None
        shapes.update(map(_shape_of_record, decoded))
        if (
            len(shapes) > 1
            or list(map(_key_of_record, decoded)) != keys[start : start + len(chunk)]
        ):
            return None
        payloads += map(_inline_of_record, decoded)
    if len(shapes) != 1 or None in payloads:
        return None
    version, status, codec, codec_version, objects = shapes.pop()
    if (version, status, objects) != (ENTRY_FORMAT_VERSION, "success", ()):
        return None
    return codec, codec_version, payloads


def _inline_shaped(record: bytes) -> bool:
    """Whether ``record`` may be a success entry held wholly inline (False: it is not)."""
    try:
        decoded = msgpack.unpackb(record, use_list=False)  # raw=False
    except (ValueError, msgpack.ExtraData, TypeError):
        return True  # (the caller's full pass says what is wrong)
    if type(decoded) is not tuple or len(decoded) != _RECORD_FIELDS:
        return True
    version, status, _, _, objects = _shape_of_record(decoded)
    return (version, status, objects) == (ENTRY_FORMAT_VERSION, "success", ())


def may_be_tombstones(records: Sequence[bytes], keys: Sequence[str]) -> bool:
    """Whether any of ``records`` (those of ``keys``, in order) may be a tombstone.

    Without decoding: a record's status follows its key, so for keys of one length in
    ASCII it is looked for at one place (a record holding another key, found only in a
    damaged store, fails when decoded); otherwise anywhere in the record.
    """
    if not records:
        return False
    lengths = set(map(len, keys))
    if len(lengths) == 1 and all(map(str.isascii, keys)):
        (size,) = lengths
        at = 2 + _str_header(size) + size  # array and format bytes, then the key
        starts = map(bytes.startswith, records, repeat(TOMBSTONE_STATUS), repeat(at))
        return any(starts)
    return any(map(bytes.__contains__, records, repeat(TOMBSTONE_STATUS)))


def _str_header(size: int) -> int:
    """Bytes of the msgpack header of a string of ``size`` bytes."""
    return 1 if size < 32 else 2 if size < 1 << 8 else 3 if size < 1 << 16 else 5


_RECORD_FIELDS = 12  # the format version, then Entry's fields in order
_DECODED: dict[bytes, Entry] = {}  # records that refer to objects, by their bytes
_REMEMBERED_RECORDS = 8192  # (about 4 MB at most)
_REMEMBERED_SIZE = 512  # bytes of a record remembered at most (no inline payload)
# records decoded at a time: their transient tuples, freed soon, neither crowd the
# processor's caches nor trigger the garbage collector more often
_DECODE_CHUNK = 64
_new_tuple = tuple.__new__
# C-level callables, for bulk decoding without a Python call per record
_version_of_record = operator.itemgetter(0)
_objects_of_record = operator.itemgetter(1 + Entry._fields.index("objects"))
_fields_of_record = operator.itemgetter(slice(1, None))
_key_of_record = operator.itemgetter(1 + Entry._fields.index("key"))
_inline_of_record = operator.itemgetter(1 + Entry._fields.index("inline"))
_shape_of_record = operator.itemgetter(  # (format, status, codec, codec version, objects)
    0, *(1 + Entry._fields.index(name) for name in ("status", "codec", "codec_version", "objects"))
)
_entry_of_record = functools.partial(_new_tuple, Entry)


def seal(record: bytes) -> bytes:
    """A loose entry file: magic, 8-byte xxh3-64 of the record, the record."""
    return SEAL_MAGIC + xxhash.xxh3_64_digest(record) + record


def is_sealed(head: bytes) -> bool:
    """Whether ``head`` (a loose file's first 12 bytes) begins as :func:`seal` writes."""
    return len(head) >= 12 and head[:4] == SEAL_MAGIC


def unseal(data: bytes, where: object) -> bytes:
    """Check and strip :func:`seal`'s framing; ``CorruptArtifactError`` if it does not match."""
    if len(data) < 12 or data[:4] != SEAL_MAGIC:
        raise CorruptArtifactError(where, f"entry file is truncated or foreign ({len(data)} bytes)")
    record = data[12:]
    if xxhash.xxh3_64_digest(record) != data[4:12]:
        raise CorruptArtifactError(where, "entry checksum does not match its content")
    return record
