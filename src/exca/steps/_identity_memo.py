"""The cell identity of a step with scalar fields, memoized per process for new instances.

A new instance of a step (``Mult(coeff=3, infra=...)`` built again for every call) would
otherwise dump its config, compare every field with its default and render its cell
path each time. The memo's key is exact, never equality: two configs share a key only
if their classes are the same object and every field holds a value of the same exact
type that is the same value (a float by its ``repr``, so ``0.0`` and ``-0.0``, ``1``,
``1.0`` and ``True`` all differ). Equality alone would confuse them (``1 == 1.0 ==
True``, ``[1, 2] == (1, 2)``), so only fields of the exact types ``str``, ``int``,
``float``, ``bool`` and ``None`` make a key; a step with any other value (a list, a
nested step, a path...) has none and is computed afresh, as before. A class that could
dump the same values differently (custom serializers, computed fields, extra fields,
a ``_resolve_step``) has no key either.
"""

from __future__ import annotations

import dataclasses
import typing as tp

if tp.TYPE_CHECKING:
    from .base import Step
    from .cache_types import CacheType

__all__ = ["CellIdentity", "key_of_config", "remembered", "remember"]

_MAX_MEMO = 4096
_EXACT_TYPES = frozenset({str, int, bool, type(None)})  # equal values of one of these are one
_PLAIN: dict[type, bool] = {}  # step class -> whether its instances may have a key


@dataclasses.dataclass(frozen=True, slots=True)
class CellIdentity:
    """What a cell of a top-level step is, whatever its backend: the arguments of the
    ``Cell`` and of its changed-defaults check (shared: never mutate them)."""

    relpath: str
    cache_type: CacheType
    configs: list[dict[str, tp.Any]]
    classes: list[str]
    at_default: list[set[str]]
    configs_text: str  # (``_config_record.configs_text`` of the two above)


_MEMO: dict[tuple[object, ...], CellIdentity] = {}


def key_of_config(step: Step) -> tuple[object, ...] | None:
    """A key naming ``step``'s config exactly (infra aside), or None if it has none."""
    cls = type(step)
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = _is_plain(cls)
    if not plain or step.__pydantic_extra__:
        return None
    parts: list[object] = [cls]
    for name, value in step.__dict__.items():
        kind = type(value)
        if kind is float:
            parts += (name, kind, repr(value))  # (repr tells -0.0 from 0.0: == does not)
        elif kind in _EXACT_TYPES:
            parts += (name, kind, value)
        elif name != "infra":
            return None
    return tuple(parts)


def remembered(key: tuple[object, ...]) -> CellIdentity | None:
    return _MEMO.get(key)


def remember(key: tuple[object, ...], identity: CellIdentity) -> None:
    if len(_MEMO) >= _MAX_MEMO:
        _MEMO.clear()
    _MEMO[key] = identity


def _is_plain(cls: type[Step]) -> bool:
    """Whether the dump of an instance of ``cls`` depends on its field values only, the
    same way for equal keys: no resolution, no chain, no custom or computed
    serialization, no extra fields."""
    from ._discriminated import DiscriminatedModel

    decorators = cls.__pydantic_decorators__
    own_serializer = DiscriminatedModel.__pydantic_decorators__.model_serializers.keys()
    return not (
        cls._resolves
        or hasattr(cls, "_step_list")  # a chain (its cell is its steps')
        or decorators.field_serializers
        or decorators.computed_fields
        or decorators.model_serializers.keys() - own_serializer
        or cls.model_config.get("extra") == "allow"
    )
