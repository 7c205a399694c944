"""The records of several packs taken together: the newest record of each key.

Records are taken as their checked bytes; only a key found in several of the packs has
its records decoded, to keep the newest. A damaged pack is left out (and left as it is,
for ``verify(fix=True)`` to report): its index may not list every record it holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .entries import decode_entry
from .errors import CorruptArtifactError
from .packs import Pack

__all__ = ["created_of", "newest_records"]


def newest_records(packs: Sequence[Pack]) -> tuple[dict[bytes, bytes], list[Pack]]:
    """The newest record of each key digest in the sound ones of ``packs``, and those
    packs. Between two records of a key created at the same time, the one of the pack
    listed first is kept, as a lookup would serve it."""
    merged: dict[bytes, bytes] = {}
    sound: list[Pack] = []
    for pack in packs:
        try:
            if not pack.misses_prove():
                continue  # its index cannot be trusted to list every record
            digests, records = pack.checked_records()
        except CorruptArtifactError:
            continue  # a record fails its check
        sound.append(pack)
        incoming = dict(zip(digests, records, strict=True))
        for digest in incoming.keys() & merged.keys():  # (usually none)
            incoming[digest] = _newer(merged[digest], incoming[digest], pack.path)
        merged.update(incoming)
    return merged, sound


def _newer(kept: bytes, other: bytes, where: Path) -> bytes:
    """Of two records of one key, the one created later (``kept`` on a tie)."""
    return other if created_of(other, where) > created_of(kept, where) else kept


def created_of(record: bytes, where: object) -> float:
    """When the entry of ``record`` was created; minus infinity for a record that passes
    its check but does not decode (any readable record of its key is taken over it)."""
    try:
        return decode_entry(record, where).created
    except CorruptArtifactError:
        return -math.inf
