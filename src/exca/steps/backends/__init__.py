"""Execution backends: where a step caches and how its missing results are computed.

``Cached`` computes inline; ``ThreadPool`` and ``ProcessPool`` on local pools;
``LocalProcess``, ``SubmititDebug``, ``Slurm`` and ``Auto`` through submitit (``Slurm``
as one job array per dispatch). Every backend caches the same way, in the same cells.
"""

from __future__ import annotations

from ..lookup import LookupHandle, StepPaths
from .base import Backend
from .inline import Cached
from .pools import ProcessPool, ThreadPool
from .progress import settings
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
