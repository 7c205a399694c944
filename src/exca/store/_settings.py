"""One rule for the store's settings: the argument, else an environment variable, else
the default; anything else is refused naming both places."""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["choose"]


def choose(name: str, value: str | None, env_var: str, choices: Sequence[str]) -> str:
    """``value``, else ``$env_var``, else ``choices[0]``; ``ValueError`` if not a choice."""
    chosen = value or os.environ.get(env_var) or choices[0]
    if chosen not in choices:
        raise ValueError(
            f"{name} must be one of {tuple(choices)}, got {chosen!r} "
            f"(from the argument or the {env_var} environment variable)"
        )
    return chosen
