"""The config record of a step folder, checked against the steps about to use its results.

A step folder is named by uid configs, which leave out what cannot change a result
as far as the folder name can tell: fields left at their default, and the module of
each step's class. The record keeps both (every config in full, and each class's
``module:qualname``), so a changed class default (defect 1 of exca 0.6.0) or another
class of the same name raises instead of serving results computed by something else.
"""

from __future__ import annotations

import json
import typing as tp

from .errors import DefaultChangedError, StepClassConflictError

if tp.TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Record", "render", "parse", "check"]


class Record(tp.NamedTuple):
    """What a step folder records: the full config and the class path of each step
    (upstream first); ``classes`` is None in records written before it was kept."""

    configs: list[dict[str, tp.Any]]
    classes: list[str] | None


def render(configs: list[dict[str, tp.Any]], classes: list[str] | None) -> str:
    """The text of a record (one config per step, each with its type first)."""
    record: dict[str, tp.Any] = {"steps": configs}
    if classes is not None:
        record["classes"] = classes
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def parse(text: str) -> Record:
    """The record in ``text``; raises ``ValueError`` or ``TypeError`` if it is malformed."""
    loaded = json.loads(text)
    configs, classes = loaded["steps"], loaded.get("classes")
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise TypeError(f"expected a list of step configs, got {configs!r:.80}")
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    ):
        raise TypeError(f"expected a list of class paths, got {classes!r:.80}")
    return Record(configs, classes)


def check(recorded: Record, current: Record, at_default: list[set[str]], where: Path) -> None:
    """Raise if the results beside the record ``where`` were computed by other classes or
    with other defaults than ``current``'s."""
    folder = where.parent
    if recorded.classes is not None and current.classes is not None:
        for was, now in zip(recorded.classes, current.classes, strict=False):
            if not _same_class(was, now):
                raise StepClassConflictError(
                    f"{folder} holds the results of {was}, not of {now}: the two classes "
                    f"share the name {now.rpartition(':')[2]!r}, which names step folders. "
                    "Rename one of them; if it is the same class moved to another module, "
                    f"recompute with infra.mode='force' (or delete {where} to adopt its "
                    "results)"
                )
    for old, new, names in zip(recorded.configs, current.configs, at_default, strict=False):
        for name in sorted(names & set(old) & set(new)):
            if old[name] != new[name]:
                raise DefaultChangedError(
                    f"the default of {next(iter(new.values()))}.{name} changed from "
                    f"{old[name]!r} to {new[name]!r} since {folder} was written: its "
                    f"results used {name}={old[name]!r}. Pass {name}={old[name]!r} "
                    "explicitly to reuse them, or recompute them with infra.mode='force'"
                )


def _same_class(old: str, new: str) -> bool:
    """Whether two class paths may name one class: a script's classes are in ``__main__``
    when it runs and in its own module when imported, so ``__main__`` matches any module."""
    if old == new:
        return True
    (old_module, _, old_name), (new_module, _, new_name) = old.partition(":"), new.partition(":")
    return old_name == new_name and "__main__" in (old_module, new_module)
