"""The runtime state of a step instance (frozen flag, memos, cells), read quickly."""

from __future__ import annotations

import dataclasses
import typing as tp

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = ["StepState", "state_of"]


@dataclasses.dataclass
class StepState:
    """Runtime state of one step instance: never compared, never pickled."""

    frozen: bool = False
    resolution: Step | None = None
    uid_config: dict[str, tp.Any] | None = None
    json_dump: dict[str, tp.Any] | None = None  # model_dump(mode="json"), once frozen
    own_mode: str | None = None
    cells: dict[tuple[int, ...], tp.Any] = dataclasses.field(default_factory=dict)
    hot: tuple[Step, tp.Any] | None = None  # (resolved step, top-level cell) of run()


def state_of(step: Step) -> StepState:
    """``step._state``, without pydantic's fallback lookup of private attributes (which
    raises and catches an exception on every access: microseconds on every run)."""
    return step.__pydantic_private__["_state"]  # type: ignore[index]
