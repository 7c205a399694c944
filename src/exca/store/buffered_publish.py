"""Publishing a write buffer's entries: their objects protected from gc again first.

The objects of buffered entries were unreferenced while the entries waited, and gc may
have found them old (it removes unreferenced objects older than its grace period): they
are protected again before the entries are published, and an entry whose object is gone
meanwhile is never published (a dangling entry would read as damaged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .entries import Entry
from .entry_table import EntryTable
from .errors import CorruptArtifactError
from .layout import object_path

if TYPE_CHECKING:
    from .store import Store

__all__ = ["publish_buffered"]


def publish_buffered(entries: list[Entry], store: Store, table: EntryTable) -> None:
    """Publish ``entries`` in ``table`` (one pack when several), those whose objects are
    all still in ``store``; then raise ``CorruptArtifactError`` if any was not.
    Entries holding their values inline need no object store (nor its numpy import)."""
    refs = [ref for e in entries for ref in e.objects]
    missing = store.objects.protect(refs) if refs else []
    gone = {ref.digest for ref in missing}
    lost = [e.key for e in entries if gone.intersection(ref.digest for ref in e.objects)]
    if lost:
        dangling = set(lost)
        entries = [e for e in entries if e.key not in dangling]
    if len(entries) == 1:
        table.put(entries[0])
    elif entries:
        table.put_many(entries)
    if lost:
        ref = missing[0]
        raise CorruptArtifactError(
            object_path(store.folder, ref.digest, ref.suffix),
            f"object is missing: gc removed it while an entry referring to it waited "
            f"in a write buffer; {len(lost)} such entry(ies) of {table.folder} were not "
            f"published (first key: {lost[0]!r}), the others were",
        )
