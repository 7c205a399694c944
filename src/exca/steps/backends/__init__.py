"""Execution backends: where a step caches and how its missing results are computed.

``Cached`` computes inline; ``ThreadPool`` and ``ProcessPool`` on local pools;
``LocalProcess``, ``SubmititDebug``, ``Slurm`` and ``Auto`` through submitit (``Slurm``
as one job array per dispatch). Every backend caches the same way, in the same cells.

The pool and submitit backends are defined when first named: as attributes of this
module, or by name in a config (``infra={"backend": "Slurm", ...}``), as every backend is.
"""

from __future__ import annotations

import importlib
import typing as tp

from ..lookup import LookupHandle, StepPaths
from .base import Backend
from .inline import Cached
from .progress import settings

if tp.TYPE_CHECKING:
    from .pools import ProcessPool, ThreadPool
    from .submitit import Auto, LocalProcess, Slurm, SubmititDebug

__all__ = [
    "Backend",
    "Cached",
    "ThreadPool",
    "ProcessPool",
    "LocalProcess",
    "SubmititDebug",
    "Slurm",
    "Auto",
    "LookupHandle",
    "StepPaths",
    "settings",
]


def __getattr__(name: str) -> tp.Any:
    module = Backend._on_demand.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
