"""Walks of a step graph: nested steps, resolution to a fixed point, freezing, folders, modes."""

from __future__ import annotations

import typing as tp

import pydantic
from pydantic_core import PydanticUndefined

from ._state import state_of
from .identity import ModeType

if tp.TYPE_CHECKING:
    from pathlib import Path

    from .base import Step

_MAX_RESOLUTIONS = 20
_NO_STEP_INSIDE = frozenset({str, int, float, bool, bytes, type(None)})  # (exact types)
_MODE_RANK = {"cached": 0, "retry": 1, "force": 2}


def nested_steps(step: Step) -> list[Step]:
    """Steps held in ``step``'s fields (inside lists, tuples, dicts and plain pydantic
    models), not inside those steps."""
    found: list[Step] = []
    for name in type(step).model_fields:
        if name != "infra":
            _collect(getattr(step, name), found)
    return found


def _collect(value: object, found: list[Step]) -> None:
    if type(value) in _NO_STEP_INSIDE:  # most fields: no import, no isinstance chain
        return
    from .base import Step

    if isinstance(value, Step):
        found.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, pydantic.BaseModel):
        for item in model_values(value).values():
            _collect(item, found)


def model_values(model: pydantic.BaseModel) -> dict[str, object]:
    """The fields (and extra fields) of a plain pydantic model, by name."""
    values = {name: getattr(model, name) for name in type(model).model_fields}
    values.update(model.model_extra or {})
    return values


def resolved(step: Step) -> Step:
    """The fixed point of ``_resolve_step()``; memoized once the step is frozen."""
    if not type(step)._resolves:
        return step
    state = state_of(step)
    if state.resolution is not None:
        return state.resolution
    current = step
    for _ in range(_MAX_RESOLUTIONS):
        nxt = current._resolve_step()
        if nxt is current:
            break
        current = nxt
    else:
        raise RuntimeError(
            f"{type(step).__name__}._resolve_step did not reach a fixed point after "
            f"{_MAX_RESOLUTIONS} resolutions; return self once fully resolved"
        )
    if current is not step and any(s is step for s in walk(current)):
        raise RuntimeError(
            f"{type(step).__name__}._resolve_step returned a step containing itself; "
            "strip the fields that hold sub-steps, e.g. model_copy(update={...: []})"
        )
    freeze(step)  # the memo stays valid only while the config cannot change
    freeze(current)
    state.resolution = current
    return current


def walk(step: Step) -> tp.Iterator[Step]:
    """``step`` and every step nested in it, depth first."""
    yield step
    for sub in nested_steps(step):
        yield from walk(sub)


def caches(step: Step) -> bool:
    """Whether running ``step`` caches anything (a backend on it or on a step it chains)."""
    from .chain import Chain

    step = resolved(step)
    if step.infra is not None:
        return True
    return isinstance(step, Chain) and any(caches(sub) for sub in step._step_list())


def freeze(step: Step) -> None:
    """Forbid field assignment on ``step``, its nested steps and their backends."""
    if state_of(step).frozen:  # frozen together with everything nested in it
        return
    for sub in walk(step):
        if state_of(sub).frozen:
            continue
        state_of(sub).frozen = True
        if sub.infra is not None:
            sub.infra._frozen = True


def propagate_folder(step: Step, folder: Path, read_folders: list[Path]) -> None:
    """Give ``folder`` and ``read_folders`` to every nested step whose infra has no folder
    (its own win below it; read folders it sets itself are kept)."""
    for sub in nested_steps(step):
        infra = sub.infra
        if infra is not None and infra.folder is None:
            object.__setattr__(infra, "folder", folder)  # before any freeze: a fill-in
            if "read_folders" not in infra.model_fields_set:
                object.__setattr__(infra, "read_folders", list(read_folders))
        if infra is None or infra.folder is None:
            propagate_folder(sub, folder, read_folders)
        else:
            propagate_folder(sub, infra.folder, infra.read_folders)


def fold_modes(*modes: ModeType) -> ModeType:
    """Fold modes in pipeline order.

    ``force`` and ``retry`` persist downstream (the stronger wins); ``read-only`` applies
    to its own step only; ``read-only`` after ``force`` would serve stale results: error.
    """
    acc: ModeType = "cached"
    for mode in modes:
        if mode == "read-only":
            if acc == "force":
                raise ValueError(
                    "mode 'read-only' follows a step in mode 'force': it would serve results "
                    "computed from stale inputs; drop one of the two modes"
                )
            acc = "read-only"
        elif acc == "read-only" or _MODE_RANK[mode] > _MODE_RANK[acc]:
            acc = mode
    return acc


def own_mode(step: Step) -> ModeType:
    """The mode of ``step`` once the modes of its nested steps are folded in."""
    step = resolved(step)
    state = state_of(step)
    if state.own_mode is not None and state.frozen:  # a frozen step's modes cannot change
        return tp.cast(ModeType, state.own_mode)
    own: ModeType = "cached" if step.infra is None else step.infra.mode
    subs = [own_mode(sub) for sub in nested_steps(step)]
    mode = fold_modes(own, *subs, own) if subs else own
    if state.frozen:
        state.own_mode = mode
    return mode


def is_model_default(field: pydantic.fields.FieldInfo, value: object) -> bool:
    """Whether ``value`` is the field's default (a factory is called to compare): equal
    to it and of the same types throughout. Equality alone would let values that are
    other configs share the default's folder and results: ``False``, ``0.0`` and ``0``
    are equal, and a field ``int | float | bool = 0`` keeps them apart; pydantic does
    not convert defaults, so ``lr: float = 1`` computes with the int ``1`` by default
    and with ``1.0`` when given ``lr=1``: two configs, which may give two results."""
    if field.default_factory is not None:
        try:
            default = field.default_factory()  # type: ignore[call-arg]
        except TypeError:  # a factory that needs the validated data: never a default
            return False
    else:
        default = field.default
    if default is PydanticUndefined:
        return False
    try:
        if not value == default:
            return False
    except (ValueError, TypeError):  # arrays and other ambiguous comparisons
        return False
    return _same_types(value, default)


def _same_types(value: object, default: object) -> bool:
    """Whether two equal values are of the same types, containers' items included (by
    their store keys, which tell ``1``, ``1.0`` and ``True`` apart, and lists from tuples)."""
    from exca.store.keys import key_bytes

    try:
        return key_bytes(value) == key_bytes(default)
    except (TypeError, ValueError):  # a value a key cannot encode: its type only
        return type(value) is type(default)
