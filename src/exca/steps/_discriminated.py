"""Pydantic base model whose subclasses are chosen by name through a discriminator key."""

from __future__ import annotations

import importlib
import itertools
import typing as tp

import pydantic

__all__ = ["DiscriminatedModel", "unknown_name_message"]

_OWN_PACKAGE = "exca."
_DEFINITIONS = itertools.count(1)


class DiscriminatedModel(pydantic.BaseModel):
    """A model validated into the subclass named by its discriminator key.

    The key is ``"type"`` unless a hierarchy sets another one with
    ``class Base(DiscriminatedModel, discriminator_key="name")``. The dump always
    starts with the key, so configs round-trip through YAML/JSON.
    """

    model_config = pydantic.ConfigDict(
        extra="forbid", polymorphic_serialization=True, defer_build=True
    )
    _discriminator_key: tp.ClassVar[str] = "type"
    _registry_cache: tp.ClassVar[dict[str, type[DiscriminatedModel]] | None] = None
    _root: tp.ClassVar[bool] = False  # the base of a hierarchy (Step, Backend): not a choice
    _defined: tp.ClassVar[int] = 0  # order of definition: a redefined class wins
    # classes of the hierarchy defined on demand: class name -> the module defining it,
    # imported when that name is looked up (or every name is listed)
    _on_demand: tp.ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, discriminator_key: str | None = None, **kwargs: tp.Any) -> None:
        if discriminator_key is not None:
            cls._discriminator_key = discriminator_key
        cls._defined = next(_DEFINITIONS)
        cls._root = discriminator_key is not None or DiscriminatedModel in cls.__bases__
        for ancestor in cls.__mro__:  # a new class makes every ancestor's registry stale
            if "_registry_cache" in ancestor.__dict__:
                ancestor._registry_cache = None  # type: ignore[attr-defined]
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: tp.Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls._discriminator_key in cls.model_fields:
            raise TypeError(
                f"{cls.__qualname__} declares a field {cls._discriminator_key!r}, which is "
                "the discriminator key of its hierarchy (added to every dump); rename it"
            )
        if not cls.__module__.startswith(_OWN_PACKAGE):
            # exca's own classes build their validators on first use (a fast import);
            # a user's class builds them now, as any pydantic model does: a mistake in
            # its annotations shows here, and its first instance costs no schema build.
            # (Annotations naming a class not defined yet are resolved on first use.)
            cls.model_rebuild(raise_errors=False)

    @classmethod
    def _subclasses_by_name(cls, wanted: str | None = None) -> dict[str, type[DiscriminatedModel]]:
        """This class and its subclasses sharing its discriminator key, by class name.

        A name used by classes of different modules maps to ``None`` until one of them
        is renamed: dispatching on it raises. Within one module, the class defined last
        wins (a notebook cell run again, a module reloaded). The class called ``wanted``
        is defined first if it is one defined on demand; ``None``: every such class is.
        """
        modules = cls._on_demand.values() if wanted is None else (cls._on_demand.get(wanted),)
        for module in modules:
            if module is not None:  # (import_module waits for an import under way)
                importlib.import_module(module)
        cached = cls.__dict__.get("_registry_cache")
        if cached is not None:
            return cached
        found: dict[str, tp.Any] = {}
        todo: list[type[DiscriminatedModel]] = [cls]
        while todo:
            sub = todo.pop()
            todo.extend(sub.__subclasses__())
            if sub._discriminator_key != cls._discriminator_key:
                continue
            other = found.get(sub.__name__, sub)
            if other is not None and other.__module__ == sub.__module__:
                found[sub.__name__] = max(other, sub, key=_definition_order)
            else:
                found[sub.__name__] = None
        cls._registry_cache = found
        return found

    @classmethod
    def _coerce_input(cls, value: tp.Any) -> tp.Any:
        """Hook: turn other input shapes into a config dict before dispatch."""
        return value

    def __new__(cls, /, **kwargs: tp.Any) -> tp.Any:
        # `Step(type="Mult", ...)` builds a Mult: pick the class before pydantic's __init__
        name = kwargs.get(cls._discriminator_key)
        if isinstance(name, str) and name != cls.__name__:
            target = cls._subclasses_by_name(name).get(name)
            if target is not None:
                return super().__new__(target)
        return super().__new__(cls)

    @pydantic.model_serializer(mode="wrap")
    def _dump_with_discriminator(
        self, handler: pydantic.SerializerFunctionWrapHandler
    ) -> dict[str, tp.Any]:
        return {self._discriminator_key: type(self).__name__, **handler(self)}

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_discriminator(
        cls, value: tp.Any, handler: pydantic.ValidatorFunctionWrapHandler
    ) -> tp.Any:
        key = cls._discriminator_key
        if isinstance(value, str):
            value = {key: value}
        value = cls._coerce_input(value)
        if not isinstance(value, dict):
            return handler(value)
        value = dict(value)  # never mutate the caller's config
        name = value.pop(key, None)
        if name is None or name == cls.__name__:
            return _validate_with_hint(cls, value, handler)
        target = cls._subclasses_by_name(name).get(name) if isinstance(name, str) else None
        if target is None:
            raise ValueError(unknown_name_message(cls, name, cls._subclasses_by_name()))
        return target.model_validate(value)


def _definition_order(cls: type[DiscriminatedModel]) -> int:
    return cls._defined


def unknown_name_message(
    cls: type[DiscriminatedModel], name: object, known: dict[str, tp.Any]
) -> str:
    """Why ``name`` names no class of ``cls``'s hierarchy: unknown (listing the choices)
    or ambiguous (naming the classes that share it)."""
    key = cls._discriminator_key
    if name in known and known[name] is None:  # classes of several modules: which one?
        todo, paths = [cls], []
        while todo:
            sub = todo.pop()
            todo.extend(sub.__subclasses__())
            if sub.__name__ == name and sub._discriminator_key == key:
                paths.append(f"{sub.__module__}.{sub.__qualname__}")
        return (
            f"{key} {name!r} is ambiguous for {cls.__name__}: classes {sorted(paths)} share "
            f"that name, and a config names a class by its name only; rename one of them"
        )
    # (private classes and the base of the hierarchy are not choices a config can make)
    names = sorted(
        n for n, sub in known.items() if sub is not None and not (n[0] == "_" or sub._root)
    )
    return f"unknown {key} {name!r} for {cls.__name__}; known: {names}"


def _validate_with_hint(
    cls: type[DiscriminatedModel], value: dict[str, tp.Any], handler: tp.Callable[..., tp.Any]
) -> tp.Any:
    """Validate as ``cls``; if fields belong to a subclass, hint at the missing key.

    Errors of nested configs are given in the user's terms (``steps.1.coeff``).
    """
    try:
        return handler(value)
    except pydantic.ValidationError as error:
        extras = set(value) - set(cls.model_fields)
        candidates = [
            name
            for name, sub in cls._subclasses_by_name().items()
            if sub is not None and extras and extras <= set(sub.model_fields)
        ]
        if not candidates:
            from ._user_errors import in_user_terms  # (the error path only: a fast import)

            cleaned = in_user_terms(error, cls.__name__)
            if cleaned is error:
                raise
            raise cleaned from None
        raise ValueError(
            f"{sorted(extras)} are not fields of {cls.__name__} but of {sorted(candidates)}: "
            f"did you forget the discriminator key {cls._discriminator_key!r}?"
        ) from None
