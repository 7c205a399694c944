"""Child process of ``test_crash_kill``: writes into a store until it is killed.

Usage: ``python crash_writer.py ROOT ARRAY_MIB RUN``. Prints one line per phase
(``big``, ``batch``, ``loose``, ``pack``, ``delete``) just before it starts, so the parent
can aim its SIGKILL. Every value is self-checking (see :func:`check_value`).
"""

from __future__ import annotations

import sys

import numpy as np


def big_value(fill: int, mib: int) -> np.ndarray:
    """An array whose every byte is ``fill`` (1..3): a torn file shows other bytes."""
    return np.full(mib << 20, fill, dtype=np.uint8)


def small_value(key: str) -> tuple[str, int, bytes]:
    return (key, len(key), key.encode() * 3)


def check_value(key: str, value: object, mib: int) -> None:
    """Raise ``AssertionError`` unless ``value`` is a whole value the child wrote for ``key``."""
    if key.startswith("big-"):
        assert isinstance(value, np.ndarray) and value.shape == (mib << 20,), key
        assert value.dtype == np.uint8 and value[0] in (1, 2, 3), key
        assert value.min() == value.max(), f"{key}: torn array"
    else:
        assert value == small_value(key), f"{key}: {value!r}"


def _say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def main(root: str, mib: int, run: int) -> None:
    from exca.store import CacheDict

    cache = CacheDict(root)
    _say("ready")
    for step in range(10_000):
        _say("big")
        cache[f"big-{step % 4}"] = big_value(step % 3 + 1, mib)  # overwrites older values
        _say("batch")
        with cache.write():
            for item in range(200):
                key = f"batch-{run}-{step}-{item}"
                cache[key] = small_value(key)
        _say("loose")
        for item in range(50):
            key = f"small-{run}-{step}-{item}"
            cache[key] = small_value(key)
        if step % 2:
            _say("pack")
            cache.namespace.pack()
        _say("delete")
        for item in range(0, 50, 5):
            del cache[f"small-{run}-{step}-{item}"]


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
