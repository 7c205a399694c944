"""The ``Step`` model: configuration, validation and the public run/lookup entry points."""

from __future__ import annotations

import collections
import inspect
import typing as tp
import warnings

import pydantic

from . import _graph, _show, cache_types
from ._discriminated import DiscriminatedModel
from ._state import StepState, state_of
from .backends import Backend
from .identity import NoValue

if tp.TYPE_CHECKING:
    from .chain import Chain
    from .items import StepItems
    from .lookup import LookupHandle

__all__ = ["Step"]


class Step(DiscriminatedModel):
    """Base class for pipeline steps.

    Override ``_run()`` to implement computation (a generator's ``_run`` takes no
    required input, a transformer's takes one), ``_run_batch()`` for vectorised
    computation, or ``_resolve_step()`` to decompose into a chain of steps.

    Examples
    --------
    >>> class Mult(Step):
    ...     coeff: float = 1.0
    ...
    ...     def _run(self, value: float) -> float:
    ...         return value * self.coeff
    >>> Mult(coeff=3).run(2.0)
    6.0
    >>> Step.model_validate([{"type": "Mult", "coeff": 2}, {"type": "Mult"}]).run(1.0)
    2.0
    """

    infra: Backend | None = None

    CACHE_TYPE: tp.ClassVar[str | None] = None
    _ITEM_UID_MAX_LENGTH: tp.ClassVar[int] = 256
    _computes: tp.ClassVar[bool] = False  # overrides _run or _run_batch
    _resolves: tp.ClassVar[bool] = False  # overrides _resolve_step
    _batched: tp.ClassVar[bool] = False  # overrides _run_batch
    _generator: tp.ClassVar[bool] = False  # _run needs no input
    _custom_item_uid: tp.ClassVar[bool] = False  # overrides item_uid
    _pure_generator: tp.ClassVar[bool] = False  # _run takes no positional input at all
    _input_rule: tp.ClassVar[bool | None] = None  # _run needs an input, refuses one, or either
    _chain_class: tp.ClassVar[type[Chain] | None] = None
    _state: StepState = pydantic.PrivateAttr(default_factory=StepState)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: tp.Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._batched = cls._run_batch is not Step._run_batch
        cls._computes = cls._computes or cls._batched or cls._run is not Step._run
        cls._resolves = cls._resolve_step is not Step._resolve_step
        cls._custom_item_uid = cls.item_uid is not Step.item_uid
        params = [p for n, p in inspect.signature(cls._run).parameters.items() if n != "self"]
        cls._generator = all(p.default is not p.empty or p.kind in _VARIADIC for p in params)
        cls._pure_generator = cls._generator and not any(p.kind in _POSITIONAL for p in params)
        cls._input_rule = None if cls._batched else _input_rule(params)
        if "CACHE_TYPE" in cls.__dict__ and cls.CACHE_TYPE is not None:
            cache_types.resolve(cls.CACHE_TYPE, where=f"{cls.__qualname__}.CACHE_TYPE")

    @classmethod
    def _coerce_input(cls, value: tp.Any) -> tp.Any:
        """A list/tuple is a chain; a dict of steps (no discriminator) a named chain."""
        key = cls._discriminator_key
        chain = cls._chain_class.__name__ if cls._chain_class is not None else "Chain"
        if isinstance(value, list | tuple):
            return {key: chain, "steps": value}
        if isinstance(value, dict) and value and key not in value:
            if not set(value) <= set(cls.model_fields) and all(
                isinstance(v, Step) or (isinstance(v, dict) and key in v) for v in value.values()
            ):
                return {key: chain, "steps": collections.OrderedDict(value)}
        return value

    @pydantic.field_validator("infra", mode="before")
    @classmethod
    def _own_copy_of_infra(cls, value: tp.Any) -> tp.Any:
        """Each step gets its own backend, completed by the class's default backend."""
        if isinstance(value, Backend):
            filled = {"folder": value.folder, "read_folders": value.read_folders}
            value = value.model_dump(exclude_unset=True)
            for name, given in filled.items():  # may have been filled in by propagation
                if given:
                    value.setdefault(name, given)
        default = cls.model_fields["infra"].default
        if not isinstance(value, dict) or not isinstance(default, Backend):
            return value
        chosen = value.get("backend")
        target = (
            Backend._subclasses_by_name(chosen).get(chosen) if isinstance(chosen, str) else None
        )
        target = target or type(default)
        inherited = {
            name: getattr(default, name)
            for name in default.model_fields_set
            if name in target.model_fields
        }
        return {**inherited, **value}

    def model_post_init(self, context: tp.Any, /) -> None:
        super().model_post_init(context)
        cls = type(self)
        if not (cls._computes or cls._resolves):
            raise TypeError(f"{cls.__name__} must override _run, _run_batch or _resolve_step")
        if self.infra is not None and self.infra.folder is not None:
            _graph.propagate_folder(self, self.infra.folder, self.infra.read_folders)

    def __setattr__(self, name: str, value: tp.Any) -> None:
        if not name.startswith("_") and state_of(self).frozen:
            raise RuntimeError(
                f"cannot set {type(self).__name__}.{name}: the step is frozen since it ran or "
                f"was looked up (its caches depend on its config); use step.clone({name}=...)"
            )
        super().__setattr__(name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Step):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.model_extra == other.model_extra
        )

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[tp.Any, tp.Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_state"] = StepState()  # a fresh runtime state after unpickling
        return {**state, "__pydantic_private__": private}

    def model_copy(
        self, *, update: tp.Mapping[str, tp.Any] | None = None, deep: bool = False
    ) -> tp.Self:
        copied = super().model_copy(update=update, deep=deep)
        copied._state = StepState()  # a copy is a new, unfrozen instance
        return copied

    # ---- overridable computation -------------------------------------------------------

    def _run(self, *args: tp.Any) -> tp.Any:
        """Compute the result for one input (none for a generator). Override in subclasses."""
        raise NotImplementedError

    def _run_batch(self, values: tp.Iterable[tp.Any]) -> tp.Iterator[tp.Any]:
        """Override for vectorised compute: yield exactly one result per value, in order."""
        for value in values:
            yield self._run() if isinstance(value, NoValue) else self._run(value)

    def _resolve_step(self) -> Step:
        """Override to decompose into other steps (usually a Chain); ``self`` when done."""
        return self

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        """Names of fields that do not change results (kept out of the cache identity)."""
        return []

    def _is_generator(self) -> bool:
        """Whether the step needs no input."""
        return type(self)._generator

    def item_uid(self, value: tp.Any) -> str | None:
        """Custom cache uid for ``value``, or ``None`` for default keying.

        Pure generators can return non-None for ``NoValue`` to use attributes as the
        item dimension (colocation). Such fields should usually be excluded via
        ``_exclude_from_cls_uid``.
        """
        return None

    # ---- public API --------------------------------------------------------------------

    def clone(self, *args: dict[str, tp.Any], **kwargs: tp.Any) -> tp.Self:
        """Create a fresh Step config, optionally updated with params.

        Keys may be dotted to reach nested configs: ``{"steps.scale.coeff": 3.0}``,
        ``{"infra.mode": "force"}``. The clone is not frozen.
        """
        if len(args) > 1 or (args and kwargs):
            raise ValueError(
                f"clone takes one dict of updates or keyword updates, got {args=} {kwargs=}"
            )
        updates = args[0] if args else kwargs
        config = self.model_dump(serialize_as_any=True)
        for dotted, value in updates.items():
            _set_dotted(config, dotted.split("."), value)
        return type(self).model_validate(config)

    def show(self) -> str:
        """Human-readable tree of the step (resolved form, sub-steps expanded)."""
        return _show.render(self)

    def lookup(
        self,
        value: tp.Any = NoValue(),  # noqa: B008 - an immutable sentinel
        *,
        _upstream: tp.Sequence[Step] = (),
        _uid: str | None = None,
    ) -> LookupHandle:
        """Return a :class:`~exca.steps.backends.LookupHandle` for inspecting or clearing the cache.

        Computes nothing and creates no folder.

        Parameters
        ----------
        value:
            The input value to look up. Omit for no-input steps.

        Returns
        -------
        backends.LookupHandle
            Handle to inspect, retrieve, or clear the cached result.
        """
        from . import _engine

        return _engine.lookup(self, value, upstream=_upstream, uid=_uid)

    def run(self, value: tp.Any = NoValue()) -> tp.Any:  # noqa: B008
        """Execute the step on a single input, using cache/backend when set.

        Parameters
        ----------
        value:
            Input to the step. Omit for no-input steps.

        Returns
        -------
        Any
            Cached or freshly computed result.
        """
        from . import _engine

        return _engine.run_one(self, value)

    def run_many(self, values: tp.Iterable[tp.Any]) -> StepItems:
        """Execute the step over many inputs, one cache entry per input.

        Parameters
        ----------
        values:
            Inputs to run; one result is produced per input, in order.

        Returns
        -------
        StepItems
            Iterator yielding one result per input, in input order.
        """
        from . import _engine

        return _engine.run_many(self, values)

    def clear_cache(self) -> None:
        """Deprecated: use ``step.lookup().clear_cache()``."""
        warnings.warn(
            "Step.clear_cache() is deprecated; use step.lookup(value).clear_cache()",
            DeprecationWarning,
            stacklevel=2,
        )
        self.lookup().clear_cache()


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _input_rule(params: list[inspect.Parameter]) -> bool | None:
    """Whether a ``_run`` with these parameters needs an input, refuses one, or takes either."""
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return None
    positional = [p for p in params if p.kind in _POSITIONAL]
    if not positional:
        return False
    return True if positional[0].default is inspect.Parameter.empty else None


def _set_dotted(config: tp.Any, keys: list[str], value: tp.Any) -> None:
    """Set ``value`` at the dotted path ``keys`` of a dumped config (lists by index)."""
    *parents, last = keys
    node = config
    for depth, key in enumerate(parents):
        child = node[int(key)] if isinstance(node, list) else node.get(key)
        if child is None:
            child = {}
            _assign(node, key, child)
        elif not isinstance(child, dict | list):
            where = ".".join(keys[: depth + 1])
            raise ValueError(f"cannot update {'.'.join(keys)}: {where} is {child!r}, not a config")
        node = child
    _assign(node, last, value)


def _assign(node: tp.Any, key: str, value: tp.Any) -> None:
    if isinstance(node, list):
        node[int(key)] = value
    else:
        node[key] = value
