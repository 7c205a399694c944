"""Convenience steps: ``Func`` wraps a plain function as a Step."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import typing as tp

import pydantic

from .base import Step
from .errors import FunctionPathError

__all__ = ["Func"]

_Callable = pydantic.ImportString[tp.Callable[..., tp.Any]]


class Func(Step):
    """Wrap a plain function as a Step.

    Parameters
    ----------
    function
        Callable (or dotted import path) to wrap; both have the same identity: the
        path. A callable that its path does not name (a lambda, a function defined
        inside another, a bound method, a ``functools.partial``) is refused, since
        its cache would be shared with any other of that name.
    input_param
        Name of the parameter that receives pipeline input at runtime. ``None``
        (default) = auto-detect from signature (the single parameter without a default;
        generator if all have defaults; errors if 2+ required).

    All other keyword arguments are passed as fixed configuration to the function and
    are validated against its signature.

    Examples
    --------
    >>> Func(function=round, ndigits=2).run(3.14159)
    3.14
    >>> Func(function=lambda x: x + 1)
    Traceback (most recent call last):
    ...
    exca.steps.errors.FunctionPathError: a lambda has no import path...
    """

    model_config = pydantic.ConfigDict(extra="allow")

    function: _Callable
    input_param: str | None = None
    _input: str = pydantic.PrivateAttr(default="")
    _positional: bool = pydantic.PrivateAttr(default=False)  # input is positional-only

    if tp.TYPE_CHECKING:

        def __init__(self, **kwargs: tp.Any) -> None: ...

    @pydantic.field_serializer("function", when_used="json")
    def _dotted_path(self, function: tp.Callable[..., tp.Any]) -> str:
        return import_path(function)

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["input_param"]

    def model_post_init(self, context: tp.Any, /) -> None:
        import_path(self.function)  # (refuses a callable without identity)
        params = inspect.signature(self.function).parameters
        name = getattr(self.function, "__name__", repr(self.function))
        clash = sorted(set(type(self).model_fields) & set(params))
        if clash:
            raise ValueError(f"{name} has parameters {clash} reserved by Func; rename them")
        self._input = self._find_input(name, params)
        if self._input:
            self._positional = params[self._input].kind is inspect.Parameter.POSITIONAL_ONLY
        for key, value in (self.model_extra or {}).items():
            if key == self._input:
                raise ValueError(f"{key!r} is the input parameter of {name}; it cannot be fixed")
            if key not in params:
                raise ValueError(f"{key!r} is not a parameter of {name} (has {list(params)})")
            annotation = params[key].annotation
            if annotation is not inspect.Parameter.empty:
                pydantic.TypeAdapter(annotation).validate_python(value)
        super().model_post_init(context)

    def _find_input(self, name: str, params: tp.Mapping[str, inspect.Parameter]) -> str:
        if self.input_param is not None:
            if self.input_param not in params:
                raise ValueError(f"input_param {self.input_param!r} is not a parameter of {name}")
            return self.input_param
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        required = [
            p.name for p in params.values() if p.default is p.empty and p.kind not in variadic
        ]
        if len(required) > 1:
            raise ValueError(
                f"{name} has {len(required)} required parameters {required}; set input_param "
                "to the one that receives the pipeline input and give the others as kwargs"
            )
        return required[0] if required else ""

    def _is_generator(self) -> bool:
        return not self._input

    def _run(self, *args: tp.Any) -> tp.Any:
        kwargs = dict(self.model_extra or {})
        if self._positional:
            return self.function(args[0], **kwargs)
        if self._input:
            kwargs[self._input] = args[0]
        return self.function(**kwargs)


def import_path(function: tp.Callable[..., tp.Any]) -> str:
    """The dotted path that imports ``function``: its identity in a cache.

    Raises :class:`FunctionPathError` if no path names it (the cache would be shared
    by every callable of that name), saying what to do instead.
    """
    owner = getattr(function, "__objclass__", None)  # a method of a builtin type: str.upper
    module = getattr(function, "__module__", None) or getattr(owner, "__module__", None)
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    problem = _unnamed_problem(function, module, qualname)
    if problem is None and _resolve(str(module), str(qualname)) is not function:
        problem = (
            f"{module}.{qualname} names another object than {function!r:.80} (was it "
            "redefined or decorated?); pass the function its module defines at that name"
        )
    if problem is not None:
        raise FunctionPathError(
            f"{problem}. Func's cache identity is the function's import path: two "
            "functions of one path would share one cache. Define a module-level function "
            "(its other arguments can be given as Func fields: Func(function=f, a=1))"
        )
    return f"{module}.{qualname}"


def _unnamed_problem(function: tp.Any, module: str | None, qualname: str | None) -> str | None:
    if isinstance(function, functools.partial):
        return "a functools.partial has no import path (its arguments would not be part of it)"
    if module is None or qualname is None:
        return f"{type(function).__name__} object {function!r:.60} has no import path"
    if "<lambda>" in qualname:
        return f"a lambda has no import path (found {module}.{qualname})"
    if "<locals>" in qualname:
        return (
            f"{qualname} is defined inside another function: it has no import path, and the "
            "variables it captures would not be part of its identity"
        )
    if inspect.ismethod(function):
        return f"{qualname} is bound to {function.__self__!r:.60}, which its path does not name"
    return None


def _resolve(module: str, qualname: str) -> object:
    """The object at ``module.qualname`` (None if the module cannot be imported)."""
    try:
        found: object = sys.modules.get(module) or importlib.import_module(module)
    except ImportError:
        return None
    for name in qualname.split("."):
        found = getattr(found, name, None)
    return found
