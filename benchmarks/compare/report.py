"""The comparison's outputs: a markdown table per section with targets, and PNG plots."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs"
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
MiB = 1 << 20

Medians = dict[str, float]
Target = Callable[[Medians], tuple[str, bool | None]]


def median(values: list[float]) -> float:
    return statistics.median(values)


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e3), ("µs", 1e6)):
        if seconds * scale >= 1 or unit == "µs":
            return f"{seconds * scale:.3g} {unit}"
    raise AssertionError


def cell(samples: list[float] | None, kind: str, nbytes: float = 0) -> str:
    if not samples:
        return "—"
    mid, low, high = median(samples), min(samples), max(samples)
    if kind == "rate":
        return f"{nbytes / mid / 1e9:.2f} GB/s ({nbytes / high / 1e9:.2f}–{nbytes / low / 1e9:.2f})"
    if kind == "bytes":
        return f"{mid / MiB:.0f} MiB ({low / MiB:.0f}–{high / MiB:.0f})"
    spread = f" ({_time(low)}–{_time(high)})" if len(samples) > 1 else ""
    return _time(mid) + spread


def ratio(
    medians: Medians, ours: str, other: str, limit: float, faster: bool = True
) -> tuple[str, bool | None]:
    """``other``'s time over ``ours`` (speed-up) must be >= ``limit`` (or, with
    ``faster=False``, ours over other's must be <= ``limit``)."""
    if ours not in medians or other not in medians:
        return "not measured", None
    if faster:
        value = medians[other] / medians[ours]
        return f"{value:.2f}x vs {other} (>= {limit:g}x)", value >= limit
    value = medians[ours] / medians[other]
    return f"{value:.2f}x {other}'s time (<= {limit:g}x)", value <= limit


def fastest(medians: Medians, ours: str = "exca") -> tuple[str, bool | None]:
    peers = {side: t for side, t in medians.items() if side in ("joblib", "diskcache")}
    if ours not in medians or not peers:
        return "faster than joblib and diskcache: not measured", None
    best = min(peers, key=peers.__getitem__)
    value = peers[best] / medians[ours]
    return f"{value:.2f}x vs {best}, the faster peer (> 1x)", value > 1


def section(title: str, sides: list[str], rows: list[tuple[Any, ...]],
            samples: dict[str, dict[str, list[float]]]) -> tuple[str, list[str]]:  # fmt: skip
    """One markdown table: a row is (label, metric, kind, nbytes, target or None)."""
    present = [s for s in sides if any(s in samples.get(r[1], {}) for r in rows)]
    if not present:
        return "", []
    lines = [f"### {title}", "", "| workload | " + " | ".join(present) + " | target | result |",
             "|---" * (len(present) + 3) + "|"]  # fmt: skip
    failed = []
    for label, metric, kind, nbytes, target in rows:
        by_side = samples.get(metric, {})
        if not by_side:
            continue
        cells = [cell(by_side.get(side), kind, nbytes) for side in present]
        goal, verdict = ("", None) if target is None else target(
            {side: median(v) for side, v in by_side.items()})  # fmt: skip
        result = "" if target is None else {True: "PASS", False: "**FAIL**", None: "—"}[verdict]
        if verdict is False:
            failed.append(f"{title}: {label} ({goal})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} | {result} |")
    return "\n".join(lines) + "\n", failed


def write_report(run: Any, header: dict[str, Any], out: Path | None) -> None:
    from tables import all_sections

    out_dir = out or DOCS
    img = out_dir / "img" if out else DOCS / "img"
    img.mkdir(parents=True, exist_ok=True)
    (HERE / "results.json" if out is None else out_dir / "results.json").write_text(
        json.dumps({"header": header, "samples": run.samples, "errors": run.errors}, indent=1)
    )
    parts, failed = all_sections(run)
    plots = write_plots(run, img)
    intro = (f"Run {header['started']} on {header['cores']} cores, load average "
             f"{header['load']:.2f} at the end, exca {header['state']}; median of "
             f"{header['reps']} repetitions (spread: min–max), sides interleaved.")  # fmt: skip
    notes = sorted({n for n in run.notes if not n.startswith("Step workload")})
    steps = [f"### Steps with small values (`compare_reference.py`)\n\n{n}"
             for n in run.notes if n.startswith("Step workload")]  # fmt: skip
    body = "\n".join([intro, "", *[f"* {n}" for n in notes], "", *parts, *steps,
                      *[f"![{p.stem}](img/{p.name})" for p in plots]])  # fmt: skip
    if run.errors:
        body += "\n\nNot measured (errors):\n\n" + "\n".join(
            f"* {k}: `{v.splitlines()[-1][:160]}`" for k, v in run.errors.items()
        )
    body += f"\n\n{len(failed)} target(s) not met" + "".join(f"\n* {f}" for f in failed) + "\n"
    target = out_dir / "benchmarks.md"
    text = target.read_text() if target.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN) + len(BEGIN)] + "\n" + body + text[text.index(END) :]
    else:
        text += f"\n{BEGIN}\n{body}{END}\n"
    target.write_text(text)
    print(body)


def write_plots(run: Any, img: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        run.notes.append("plots skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return []
    from plots import PLOTS

    written = []
    for name, draw in PLOTS.items():
        figure = plt.figure(figsize=(9, 4.5))
        if draw(figure.gca(), run.samples):
            figure.tight_layout()
            path = img / f"compare-{name}.png"
            figure.savefig(path, dpi=90)
            written.append(path)
        plt.close(figure)
    return written
