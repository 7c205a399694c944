"""Decoding many entries' values at once: grouped by codec, small values in one call.

A codec may offer ``decode_inline_many(payloads, version)``, the values of entries held
wholly inline (small values), decoded together at a fraction of the cost per value;
every other entry is decoded one by one with ``decode``.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .codecs import get_codec
from .codecs.base import ObjectReader, ObjectRef
from .entries import Entry
from .entry_map import EntryMap
from .errors import CorruptArtifactError

__all__ = ["NO_OBJECTS", "codec_of", "decode_entries_values", "decode_inline_values"]

# bulk reads build these for every entry: C-level callables, no Python call per entry
# (by position: item access on a named tuple is cheaper than by attribute name)
codec_of = operator.itemgetter(Entry._fields.index("codec"), Entry._fields.index("codec_version"))
_inline_of = operator.itemgetter(Entry._fields.index("inline"))
_objects_of = operator.itemgetter(Entry._fields.index("objects"))


def decode_entries_values(
    entries: Sequence[Entry], reader: Callable[[], ObjectReader]
) -> list[Any]:
    """The value of each success entry, in order (see ``Namespace.load_many``); ``reader()``
    gives the objects, called only for entries that have some or are not inline (it
    imports the object store, and numpy with it)."""
    values: list[Any] = []
    objects: ObjectReader | None = None  # (one for the block: see Namespace.reader)
    kinds = set(map(codec_of, entries))
    groups = (
        [(kinds.pop(), entries)] if len(kinds) == 1 else itertools.groupby(entries, codec_of)
    )  # (one codec: no grouping)
    for (name, version), run in groups:
        codec = get_codec(name)
        group = run if isinstance(run, list) else list(run)
        inline = list(map(_inline_of, group))
        decode_inline = getattr(codec, "decode_inline_many", None)  # optional, faster
        if decode_inline is not None and None not in inline and not any(map(_objects_of, group)):
            values += decode_inline(inline, version)
        else:
            objects = reader() if objects is None else objects
            values += [codec.decode(entry.encoded, objects, version) for entry in group]
    return values


def decode_inline_values(found: EntryMap, keys: Sequence[str]) -> list[Any] | None:
    """The values of ``keys`` straight from their records (see ``Namespace.load_inline``)."""
    plain = found.inline_payloads(keys)
    if plain is None:
        return None
    name, version, payloads = plain
    decode_inline = getattr(get_codec(name), "decode_inline_many", None)
    return None if decode_inline is None else decode_inline(payloads, version)


class _NoObjects:
    """The objects of an entry that lists none: nothing opens the object store (nor
    imports numpy, which it brings) to decode it. A codec reads only the objects its
    entry lists (gc keeps no others): a read here is a damaged entry."""

    keep_in_ram = True  # (such a value is wholly in memory once decoded)

    def read_bytes(self, ref: ObjectRef) -> NoReturn:
        raise self._unlisted(ref)

    def open_array(self, ref: ObjectRef) -> NoReturn:
        raise self._unlisted(ref)

    def open_tree(self, ref: ObjectRef) -> NoReturn:
        raise self._unlisted(ref)

    def kept_arrays(self, refs: Sequence[ObjectRef]) -> NoReturn:
        raise self._unlisted(refs[0])

    @staticmethod
    def _unlisted(ref: ObjectRef) -> CorruptArtifactError:
        return CorruptArtifactError(
            ref.digest, "an entry that lists no objects refers to this one: recompute it"
        )


#: the reader for an entry without objects (see ``Namespace.load``)
NO_OBJECTS: ObjectReader = _NoObjects()
