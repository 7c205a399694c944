"""``Store.gc``: remove objects no entry refers to, and old temporaries."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .damage import Damage
from .entry_table import EntryTable
from .errors import CorruptArtifactError
from .layout import object_path_to_digest
from .publish import translate_write_errors
from .scan import age_s, iter_namespace_folders, iter_temporaries, path_size

if TYPE_CHECKING:
    from .store import Store

__all__ = ["GcReport", "collect_garbage"]


@dataclass(slots=True)
class GcReport:
    """What :meth:`Store.gc` removed (or would remove, with ``dry_run``)."""

    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    kept_young: int = 0
    dry_run: bool = False


def collect_garbage(store: Store, *, dry_run: bool, grace_s: float) -> GcReport:
    """Objects younger than ``grace_s`` are kept even when unreferenced: a writer may be
    between publishing an object and the entry that refers to it (writers that reuse
    an existing object refresh its time for the same reason)."""
    report = GcReport(dry_run=dry_run)
    if not store.folder.is_dir():
        return report
    if not dry_run:
        store.prepare_write("collect garbage")
    referenced = _referenced_digests(store.folder)
    now = time.time()
    for path in store.objects.iter_paths():
        if path.name.startswith("."):
            continue
        if object_path_to_digest(path)[0] in referenced:
            continue
        if age_s(path, now) < grace_s:
            report.kept_young += 1
            continue
        _remove(path, report, store.folder)
    for path in iter_temporaries(store.folder):
        if age_s(path, now) >= grace_s:
            _remove(path, report, store.folder)
    return report


def _referenced_digests(root: Path) -> set[str]:
    digests: set[str] = set()
    for folder in iter_namespace_folders(root):
        damaged: list[Damage] = []
        for entry in EntryTable(folder).iter_entries(damaged):
            if entry.status != "deleted":
                digests.update(ref.digest for ref in entry.objects)
        # a zero-length or foreign file refers to nothing; a damaged record may refer to
        # any object: then removing nothing is the safe answer
        for damage in damaged:
            if damage.holds_record:
                err = CorruptArtifactError(damage.path, damage.reason)
                err.add_note(
                    "gc stopped before removing anything: run "
                    f"exca.store.Store({str(root)!r}).verify(fix=True), then gc again"
                )
                raise err
    return digests


def _remove(path: Path, report: GcReport, root: Path) -> None:
    size = path_size(path)
    if not report.dry_run:
        try:
            with translate_write_errors(root, "collect garbage"):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        except FileNotFoundError:
            return
    report.removed.append(path)
    report.freed_bytes += size
