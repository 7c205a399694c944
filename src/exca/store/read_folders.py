"""What a store accepts from its read folders (layers): the pickle setting and its guard.

Unpickling runs whatever code the file names, so a pickle-coded entry in a folder
someone else writes is as trustworthy as that person. With ``read_folder_pickle=
"refuse"`` (or ``EXCA_READ_FOLDER_PICKLE=refuse``) a layer's pickle-coded entries are
served as misses: a step computes them into its own folder. One warning per read
folder and process says so, naming the folder.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, cast

from ._settings import choose
from .damage import Damage
from .entries import Entry
from .entry_map import decoded
from .entry_table import EntryTable

__all__ = ["ReadFolderPickle", "read_folder_pickle_setting", "PickleRefusingTable"]

ReadFolderPickle = Literal["allow", "refuse"]
_CHOICES = ("allow", "refuse")
_WARNED: set[str] = set()  # read folders this process has warned about
_LOCK = threading.Lock()


def read_folder_pickle_setting(value: ReadFolderPickle | None) -> ReadFolderPickle:
    setting = choose("read_folder_pickle", value, "EXCA_READ_FOLDER_PICKLE", _CHOICES)
    return cast(ReadFolderPickle, setting)


class PickleRefusingTable:
    """A read folder's entry table whose pickle-coded entries are absent."""

    def __init__(self, table: EntryTable, read_folder: Path, top: Path) -> None:
        self._table = table
        self._read_folder = read_folder
        self._top = top

    def get(self, key: str) -> Entry | None:
        entry = self._table.get(key)
        return None if entry is None else self._admit(entry)

    def find_many(self, keys: Sequence[str], damaged: dict[str, str]) -> dict[str, Entry | bytes]:
        found = decoded(self._table.find_many(keys, damaged), self._table.folder)
        return {key: entry for key, entry in found.items() if self._admit(entry) is not None}

    def iter_entries(self, damaged: list[Damage] | None = None) -> Iterator[Entry]:
        entries = self._table.iter_entries(damaged)
        return (entry for entry in entries if self._admit(entry) is not None)

    def _admit(self, entry: Entry) -> Entry | None:
        if entry.codec != "pickle":
            return entry
        folder = str(self._read_folder)
        with _LOCK:
            if folder in _WARNED:
                return None
            _WARNED.add(folder)
        warnings.warn(
            f"refusing pickle-coded entries of read folder {folder} (key {entry.key!r} "
            "and any others): unpickling a file someone else wrote can run their code "
            "(read_folder_pickle='refuse' or EXCA_READ_FOLDER_PICKLE=refuse); they are "
            f"misses, computed into {self._top}",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
