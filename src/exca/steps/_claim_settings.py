"""Coordination timings (``EXCA_CLAIM_*_S``), read from the environment at each use."""

from __future__ import annotations

import dataclasses
import os

__all__ = ["Settings", "settings"]


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Coordination timings, in seconds (environment variables ``EXCA_CLAIM_*_S``)."""

    heartbeat_s: float = 10.0  # EXCA_CLAIM_HEARTBEAT_S
    stale_s: float = 120.0  # EXCA_CLAIM_STALE_S: no beat this long = owner gone
    max_wait_s: float = 86400.0  # EXCA_CLAIM_MAX_WAIT_S: for an owner that looks alive
    poll_s: float = 1.0  # EXCA_CLAIM_POLL_S: longest pause between two looks


_NAMES = tuple(f"EXCA_CLAIM_{field.name.upper()}" for field in dataclasses.fields(Settings))
_SETTINGS: dict[tuple[str | None, ...], Settings] = {}


def settings() -> Settings:
    """The settings now, from the environment (read at each call: a miss may follow a
    change of it; parsed once per set of values)."""
    texts = tuple(map(os.environ.get, _NAMES))
    known = _SETTINGS.get(texts)
    if known is not None:
        return known
    values: dict[str, float] = {}
    default = Settings()
    for field, name, text in zip(dataclasses.fields(Settings), _NAMES, texts, strict=True):
        try:
            values[field.name] = float(text) if text else getattr(default, field.name)
        except ValueError:
            raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None
    known = _SETTINGS[texts] = Settings(**values)
    return known
