"""How a computation's exception is stored: as itself when it pickles, else as its text."""

from __future__ import annotations

import pickle
import traceback

__all__ = ["storable_error"]


def storable_error(error: BaseException) -> tuple[BaseException, str]:
    """The exception to store for ``error`` and its traceback text: ``error`` itself if
    it survives a pickle round trip, else a ``RuntimeError`` holding its text."""
    text = "".join(traceback.format_exception(error))
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure means "not storable as is"
        return RuntimeError(
            f"{type(error).__qualname__} (not picklable, stored as text): {error}\n{text}"
        ), text
    return error, text
