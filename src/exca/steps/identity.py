"""Identity of cached results: step configs to readable cell paths, inputs to item keys.

A *cell* holds the results of one computation: the uid configs of every step up to and
including the one that caches, so the same step after different upstream steps caches
elsewhere. Its path is human-readable (``type=Mult,coeff=3-<hash>`` per step, nested
per prefix step: built by :mod:`exca.store.step_folders`). An *item key* names one input inside a cell; it is computed once, at
pipeline entry, from the caller's value.
"""

from __future__ import annotations

import typing as tp

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = [
    "NoValue",
    "ModeType",
    "NO_INPUT_KEY",
    "cell_path",
    "item_key",
    "item_keys",
    "uncached_keys",
    "shorten",
]

ModeType = tp.Literal["cached", "force", "read-only", "retry"]
NO_INPUT_KEY = "__exca_no_input__"  # item key of a generator run without input


class NoValue:
    """Sentinel for "no input": ``step.run()`` passes it, a generator's ``_run()`` gets none."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NoValue()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoValue)

    def __hash__(self) -> int:
        return hash(NoValue)


_store_key_of: tp.Callable[[object], str] | None = None


def key_of(value: object) -> str:
    """The store's key of ``value`` (imported on first use: it pulls in numpy)."""
    global _store_key_of
    if _store_key_of is None:
        from exca.store.keys import key_of as store_key_of

        _store_key_of = store_key_of
    return _store_key_of(value)


def shorten(text: str, max_length: int) -> str:
    """``text`` if short enough, else a prefix plus the key of the whole text."""
    if len(text) <= max_length:
        return text
    digest = key_of(text)
    keep = max(max_length - len(digest) - 1, 0)
    return f"{text[:keep]}-{digest}"


def item_key(step: Step, value: object) -> str:
    """The key of ``value`` as input of ``step``: ``item_uid`` override, else its store key."""
    custom = step.item_uid(value)
    if custom is None:
        return NO_INPUT_KEY if isinstance(value, NoValue) else key_of(value)
    if not isinstance(custom, str):
        raise TypeError(
            f"{type(step).__name__}.item_uid must return a str or None, "
            f"got {type(custom).__name__}: {custom!r}"
        )
    if isinstance(value, NoValue) and not type(step)._pure_generator:
        raise TypeError(
            f"{type(step).__name__}.item_uid returns a custom uid for NoValue but its _run "
            "accepts an optional input: runs with and without input would collide; "
            "return None for NoValue or make _run take no positional input"
        )
    return shorten(custom, type(step)._ITEM_UID_MAX_LENGTH)


def item_keys(step: Step, values: tp.Iterable[object]) -> list[str]:
    """:func:`item_key` of each value (one pass, for ``run_many``)."""
    if type(step)._custom_item_uid:
        return [item_key(step, value) for value in values]
    return _store_keys(values if isinstance(values, list) else list(values))


def uncached_keys(values: list[object]) -> list[str]:
    """Keys of a run that caches nothing, where only equal inputs must share one: the
    store key of each value that has one (``item_uid`` is not called: nothing needs
    it), else its position (an input without canonical encoding is computed as is)."""
    try:
        return _store_keys(values)
    except TypeError:  # some value has no canonical encoding
        keys = []
        for position, value in enumerate(values):
            try:
                keys.append(_store_keys([value])[0])
            except TypeError:
                keys.append(f"#{position}")  # (never a store key: those are hex digits)
        return keys


def _store_keys(values: list[object]) -> list[str]:
    key_of("")  # loads the store's key_of
    store_key_of = _store_key_of
    assert store_key_of is not None
    if any(issubclass(kind, NoValue) for kind in set(map(type, values))):
        return [NO_INPUT_KEY if isinstance(v, NoValue) else store_key_of(v) for v in values]
    return list(map(store_key_of, values))  # (no Python-level loop)


_CELL_PATHS: dict[str, str] = {}  # repr of JSON-like configs -> their cell path
_MAX_MEMO = 4096


def cell_path(configs: tp.Sequence[dict[str, tp.Any]]) -> str:
    """Relative folder of the cell of these step uid configs (pipeline order)."""
    # configs are JSON-like: equal reprs mean equal configs, in the same field order
    memo = repr(configs)
    path = _CELL_PATHS.get(memo)
    if path is None:
        from exca.store.step_folders import cell_path as store_cell_path

        path = store_cell_path(configs)
        if len(_CELL_PATHS) >= _MAX_MEMO:
            _CELL_PATHS.clear()
        _CELL_PATHS[memo] = path
    return path
