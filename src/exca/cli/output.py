"""How ``exca`` prints: tables, JSON, sizes, durations, and progress on long walks."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

__all__ = ["print_json", "print_table", "human_bytes", "parse_duration", "progress"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell; numbers aligned right."""
    cells = [[str(c) for c in header], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows) for i in range(len(header))]  # fmt: skip
    for row in cells:
        padded = (c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric, strict=True))  # fmt: skip
        print("  ".join(padded).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_duration(text: str) -> float:
    """Seconds in ``1d``, ``6h``, ``30m``, ``0s`` or ``1h30m``."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"invalid duration {text!r}: expected a number and a unit s, m, h or d, like 1d, 6h, 30m or 0s")  # fmt: skip
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


class _Ticker:
    """Shows how many things a walk went through, once it has lasted ``delay_s``.

    Walks that report their count call it (it prints, at most ten times a second);
    for those that do not, a thread shows the time spent instead.
    """

    def __init__(self, label: str, delay_s: float) -> None:
        self.label = label
        self._start = time.monotonic()
        self._delay_s = delay_s
        self._last = -1.0
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def __call__(self, count: int) -> None:
        self._count = count
        now = time.monotonic()
        if now - self._start >= self._delay_s and now - self._last >= 0.1:
            self._show(now)

    def _show(self, now: float) -> None:
        with self._lock:
            self._last = now
            counted = f", {self._count:,} walked" if self._count else ""
            sys.stderr.write(f"\r{self.label}: {now - self._start:.1f} s{counted}")
            sys.stderr.flush()

    def run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if now - self._start >= self._delay_s and now - self._last >= 0.1:
                self._show(now)

    def stop(self) -> None:
        self._stop.set()
        if self._last >= 0:
            sys.stderr.write("\r\x1b[K")  # the line is cleared: results follow on stdout
            sys.stderr.flush()


@contextmanager
def progress(label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress callback shown on stderr when it is a terminal (else None), after
    ``EXCA_PROGRESS_AFTER_S`` seconds (default 1)."""
    if not sys.stderr.isatty():
        yield None
        return
    ticker = _Ticker(label, float(os.environ.get("EXCA_PROGRESS_AFTER_S", "1")))
    thread = threading.Thread(target=ticker.run, daemon=True)
    thread.start()
    try:
        yield ticker
    finally:
        ticker.stop()
        thread.join()
