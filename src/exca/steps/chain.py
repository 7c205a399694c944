"""``Chain``: steps composed sequentially, addressed by position or name."""

from __future__ import annotations

import collections
import typing as tp

import pydantic

from . import _uid
from . import base as base_module
from .base import Step

__all__ = ["Chain"]


class Chain(Step):
    """Compose multiple steps sequentially.

    A chain adds no identity of its own: it caches in the cell of its last step. With
    its own ``infra`` it is one unit of work (run as a whole where the backend runs);
    without, each step runs through its own backend.

    Examples
    --------
    >>> class Add(Step):
    ...     value: int = 1
    ...
    ...     def _run(self, x: int) -> int:
    ...         return x + self.value
    >>> chain = Chain(steps={"one": Add(), "ten": Add(value=10)})
    >>> chain.run(0), len(chain), chain["ten"].value, chain[:1].run(0)
    (11, 2, 10, 1)
    """

    steps: tp.Sequence[Step] | collections.OrderedDict[str, Step]

    _computes: tp.ClassVar[bool] = True
    _hierarchy: tp.ClassVar[type[Step]] = Step  # steps of a custom hierarchy validate here

    def __init_subclass__(cls, **kwargs: tp.Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__mro__[1:]:  # the nearest non-chain step class converts to cls
            if issubclass(base, Step) and not issubclass(base, Chain):
                base._chain_class = cls
                cls._hierarchy = base
                break

    @pydantic.field_validator("steps", mode="before")
    @classmethod
    def _validate_in_hierarchy(cls, value: tp.Any) -> tp.Any:
        """Dict items use the hierarchy's discriminator key (``"type"`` for plain steps)."""
        hierarchy = cls._hierarchy
        if hierarchy is Step:
            return value
        convert = hierarchy.model_validate
        if isinstance(value, dict):
            return collections.OrderedDict((k, convert(v)) for k, v in value.items())
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    def model_post_init(self, context: tp.Any, /) -> None:
        if not self.steps:
            raise ValueError(f"{type(self).__name__}.steps cannot be empty")
        super().model_post_init(context)

    def _step_list(self) -> list[Step]:
        steps = self.steps
        return list(steps.values() if isinstance(steps, dict) else steps)

    def __len__(self) -> int:
        return len(self.steps)

    @tp.overload
    def __getitem__(self, index: int | str) -> Step: ...

    @tp.overload
    def __getitem__(self, index: slice) -> tp.Self: ...

    def __getitem__(self, index: int | str | slice) -> Step:
        steps = self.steps
        if isinstance(index, slice):
            if isinstance(steps, dict):
                kept = list(steps.items())[index]
                return type(self)(steps=collections.OrderedDict(kept), infra=self.infra)
            return type(self)(steps=list(steps[index]), infra=self.infra)
        if isinstance(index, str):
            if not isinstance(steps, dict):
                raise TypeError(
                    f"{type(self).__name__} has unnamed steps: index it by position, or "
                    "build it from a dict of named steps"
                )
            return steps[index]
        if isinstance(index, int):
            return self._step_list()[index]
        raise TypeError(f"chain indices are int, str or slice, not {type(index).__name__}")

    def _is_generator(self) -> bool:
        return _uid.uid_steps(self)[0]._is_generator()

    def item_uid(self, value: tp.Any) -> str | None:
        """The item uid of the first step (items are keyed once, at pipeline entry)."""
        return _uid.uid_steps(self)[0].item_uid(value)


Step._chain_class = Chain
base_module.Chain = Chain  # type: ignore[misc]  # `from exca.steps.base import Chain`, as in 0.6.0
