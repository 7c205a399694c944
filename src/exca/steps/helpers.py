"""Convenience steps: ``Func`` wraps a plain function as a Step."""

from __future__ import annotations

import inspect
import typing as tp

import pydantic

from .base import Step

__all__ = ["Func"]

_Callable = pydantic.ImportString[tp.Callable[..., tp.Any]]


class Func(Step):
    """Wrap a plain function as a Step.

    Parameters
    ----------
    function
        Callable (or dotted import path) to wrap; both have the same identity.
    input_param
        Name of the parameter that receives pipeline input at runtime. ``None``
        (default) = auto-detect from signature (the single parameter without a default;
        generator if all have defaults; errors if 2+ required).

    All other keyword arguments are passed as fixed configuration to the function and
    are validated against its signature.

    Examples
    --------
    >>> def scale(x: float, factor: float = 2.0) -> float:
    ...     return x * factor
    >>> Func(function=scale, factor=3.0).run(5.0)
    15.0
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
        return f"{function.__module__}.{function.__qualname__}"

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["input_param"]

    def model_post_init(self, context: tp.Any, /) -> None:
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
