"""``CellConfigs``: a cell's step configs, checked against its config record and written
there at the cell's first write (defect 1: a changed class default must not serve old
results). What the record holds and how it is compared is :mod:`._records`'s.
"""

from __future__ import annotations

import json
import logging
import typing as tp

from . import _records

if tp.TYPE_CHECKING:
    from exca.store import Store

__all__ = ["CellConfigs", "configs_text"]

logger = logging.getLogger(__name__)

# (store, cell, configs) -> whether the config file exists, for configs this process found
# consistent with the file (or wrote): later instances of the same step skip reading it
_CONSISTENT: dict[tuple[str, str, str], bool] = {}


def configs_text(configs: list[dict[str, tp.Any]], classes: list[str] | None) -> str:
    """The full configs of a cell's steps and their classes as one text: what tells
    apart the configs a process has checked against a cell's record."""
    return f"{json.dumps(configs)}{classes}"


class CellConfigs:
    """The configs (defaults included) of a cell's steps and the ``module.qualname`` of
    their classes; None for a cell opened from its folder alone (nothing to check)."""

    def __init__(
        self,
        relpath: str,
        configs: list[dict[str, tp.Any]] | None,
        classes: list[str] | None,
        text: str | None = None,
    ) -> None:
        self.relpath = relpath
        self.configs = configs
        self.classes = classes
        self._text = text  # both as one text (see configs_text), if known
        self.recorded = False  # whether the store has this cell's record (no write needed)

    def check_defaults(self, store: Store, at_default: list[set[str]], force: bool) -> None:
        """Raise if a field left at its default had another value when the cell was written.

        ``force`` recomputes instead, and records the current configs at the next write.
        """
        if force or self.configs is None:
            return
        memo = self._memo_key(store)
        if memo in _CONSISTENT:  # checked by this process already: new instances skip the read
            self.recorded = _CONSISTENT[memo]
            return
        current = _records.Record(json.loads(json.dumps(self.configs)), self.classes)
        self._check_record(store, current, at_default)
        _CONSISTENT[memo] = self.recorded

    def record(self, store: Store) -> None:
        """Write the record before the cell's first entry, unless it is there already."""
        if self.recorded or self.configs is None:
            return
        text = _records.render(self.configs, self.classes)
        store.write_text(_config_relpath(self.relpath), text)
        self.recorded = True
        memo = self._memo_key(store)
        for stale in [key for key in _CONSISTENT if key[:2] == memo[:2]]:  # (after a force)
            del _CONSISTENT[stale]
        _CONSISTENT[memo] = True

    def _memo_key(self, store: Store) -> tuple[str, str, str]:
        """The key of these configs in ``_CONSISTENT`` (their text made once)."""
        if self._text is None:
            self._text = configs_text(self.configs or [], self.classes)
        return (str(store.folder), self.relpath, self._text)

    def _check_record(
        self, store: Store, current: _records.Record, at_default: list[set[str]]
    ) -> None:
        """Check the config records of ``folder`` and of every read folder (results may
        come from any of them); ``folder``'s own is written at its first write if absent."""
        relpath = _config_relpath(self.relpath)
        try:
            texts = store.read_texts(relpath)
        except OSError as error:  # an advisory record: its loss costs the check
            logger.warning("ignoring unreadable config record of %s: %s", self.relpath, error)
            return
        for root, text in texts:
            if root == store.folder:
                self.recorded = True  # kept as found: a damaged record is not rewritten
            try:
                recorded = _records.parse(text)
            except (ValueError, KeyError, TypeError) as error:
                # an advisory record: its loss costs the check, never a result
                logger.warning("ignoring unreadable config record %s/%s: %s", root, relpath, error)
                continue
            _records.check(recorded, current, at_default, root / relpath)


def _config_relpath(cell: str) -> str:
    from exca.store.step_folders import config_relpath

    return config_relpath(cell)
