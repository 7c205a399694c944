"""The comparison's plots: one function per PNG, drawing on an axis from the samples."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

Samples = dict[str, dict[str, list[float]]]
MiB = 1 << 20
COLORS = {"exca": "C0", "ours": "C0", "joblib": "C1", "diskcache": "C2", "numpy": "C3",
          "raw": "C7", "exca 0.6.0": "C4", "floor": "C7", "python": "C8"}  # fmt: skip


def _series(samples: Samples, prefix: str) -> dict[str, list[tuple[float, float]]]:
    """``{side: [(size, median), ...]}`` of the metrics named ``prefix<size>``."""
    series: dict[str, list[tuple[float, float]]] = {}
    for metric, by_side in samples.items():
        match = re.fullmatch(re.escape(prefix) + r"([\d.]+)", metric)
        if match:
            for side, values in by_side.items():
                series.setdefault(side, []).append((float(match[1]), statistics.median(values)))
    return {side: sorted(points) for side, points in series.items()}


def throughput(ax: Any, samples: Samples) -> bool:
    drawn = False
    for kind, style in (("write", "-o"), ("read", "--s")):
        for side, points in _series(samples, f"array_{kind}_").items():
            sizes = [size for size, _ in points]
            rates = [size * MiB / seconds / 1e9 for size, seconds in points]
            ax.plot(sizes, rates, style, color=COLORS.get(side), label=f"{side} {kind}")
            drawn = True
    ax.set(xscale="log", xlabel="array size (MiB)", ylabel="GB/s (median)",
           title="Array write and warm read-through throughput")  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    return drawn


def per_item(ax: Any, samples: Samples) -> bool:
    drawn = False
    for kind, style in (("hit", "-o"), ("bulk", "--s")):
        for side, points in _series(samples, f"small_{kind}_").items():
            sizes = [n for n, _ in points]
            costs = [t * 1e6 / (n if kind == "bulk" else 1) for n, t in points]
            label = f"{side} {'bulk read' if kind == 'bulk' else kind}"
            ax.plot(sizes, costs, style, color=COLORS.get(side), label=label)
            drawn = True
    ax.set(xscale="log", yscale="log", xlabel="entries in the store",
           ylabel="µs per entry (median)", title="Per-item cost vs store size")  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    return drawn


def scripts(ax: Any, samples: Samples) -> bool:
    bars = []
    for metric, label in (("import", "import"), ("many_arrays_script", "arrays script"),
                          ("small_script", "10k results script")):  # fmt: skip
        for side, values in sorted(samples.get(metric, {}).items()):
            bars.append((f"{label}\n{side}", statistics.median(values) * 1e3, side))
    if not bars:
        return False
    ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[COLORS.get(b[2], "C9") for b in bars])
    ax.set(ylabel="ms, interpreter start to exit", title="Whole scripts beside their floors")
    ax.tick_params(axis="x", labelsize=7)
    return True


PLOTS: dict[str, Callable[[Any, Samples], bool]] = {
    "throughput": throughput,
    "per-item": per_item,
    "scripts": scripts,
}
