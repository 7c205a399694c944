"""``LooseFolder``: a table's loose entry records, one small sealed file per key.

A loose record is named by its key's digest and replaced atomically (temporary file,
then rename): a reader sees a whole record, the one before it, or none. The lookup of
one key opens its file with system calls only (no file object: absent, every packed
key's case, costs one failed ``open``, as a ``stat`` would); a file packed away in
between reads as absent, and the packs, looked at after, hold its record. Any other
error (a folder this user cannot search, an I/O error) raises: taking such a record
for absent would serve an older packed one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from .entries import Entry, decode_entry, unseal
from .errors import CorruptArtifactError
from .layout import is_loose_entry_name

__all__ = ["LooseFolder", "LooseRecord"]

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_CHUNK = 1 << 16  # (most records fit in one read)


class LooseRecord(NamedTuple):  # (a named tuple: cheaper to define and to build)
    """One loose record as read: its key's digest, its bytes (unsealed), its entry."""

    digest: bytes
    record: bytes
    entry: Entry


class LooseFolder:
    """The loose records in ``folder`` (a table's ``entries`` folder)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder  # (a plain string: pathlib costs more than the system calls)
        self._prefix = folder + os.sep

    def read(self, digest: bytes) -> Entry | None:
        """The record of the key whose digest is ``digest``, or None."""
        path = self._prefix + digest.hex()
        try:  # (system calls only, no file object: the lookup path of every hit)
            fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None  # absent, or packed meanwhile: the packs have it
        try:
            data = _read_all(fd)
        finally:
            os.close(fd)
        return decode_entry(unseal(data, path), path)

    def names(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.folder) if is_loose_entry_name(n)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def iter_records(self, skip_corrupt: bool = False) -> Iterator[LooseRecord]:
        for name in self.names():
            try:
                item = self.read_file(name)
            except CorruptArtifactError:
                if skip_corrupt:  # packing leaves it to verify(), which reports it
                    continue
                raise
            if item is not None:
                yield item

    def read_file(self, name: str) -> LooseRecord | None:
        path = self._prefix + name  # (plain strings: packing reads every one)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None  # packed meanwhile: the packs have it
        record = unseal(data, path)
        entry = decode_entry(record, path)
        return LooseRecord(bytes.fromhex(name), record, entry)


def _read_all(fd: int) -> bytes:
    """The whole content of the open file ``fd``, read to its end."""
    data = os.read(fd, _CHUNK)
    if not data:
        return data
    chunks = [data]
    while chunk := os.read(fd, _CHUNK):  # (to the end: a short read proves nothing)
        chunks.append(chunk)
    return b"".join(chunks)
