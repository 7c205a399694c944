"""Decoding many entries' values at once: grouped by codec, small values in one call.

A codec may offer ``decode_inline_many(payloads, version)``, the values of entries held
wholly inline (small values), decoded together at a fraction of the cost per value;
every other entry is decoded one by one with ``decode``.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Any

from .codecs import get_codec
from .codecs.base import ObjectReader
from .entries import Entry
from .entry_map import EntryMap

__all__ = ["codec_of", "decode_entries_values", "decode_inline_values"]

# bulk reads build these for every entry: C-level callables, no Python call per entry
# (by position: item access on a named tuple is cheaper than by attribute name)
codec_of = operator.itemgetter(Entry._fields.index("codec"), Entry._fields.index("codec_version"))
_inline_of = operator.itemgetter(Entry._fields.index("inline"))
_objects_of = operator.itemgetter(Entry._fields.index("objects"))


def decode_entries_values(entries: Sequence[Entry], reader: ObjectReader) -> list[Any]:
    """The value of each success entry, in order (see ``Namespace.load_many``)."""
    values: list[Any] = []
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
            values += [codec.decode(entry.encoded, reader, version) for entry in group]
    return values


def decode_inline_values(found: EntryMap, keys: Sequence[str]) -> list[Any] | None:
    """The values of ``keys`` straight from their records (see ``Namespace.load_inline``)."""
    plain = found.inline_payloads(keys)
    if plain is None:
        return None
    name, version, payloads = plain
    decode_inline = getattr(get_codec(name), "decode_inline_many", None)
    return None if decode_inline is None else decode_inline(payloads, version)
