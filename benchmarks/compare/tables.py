"""Which rows the comparison reports, with which targets (the issue's, as ratios)."""

from __future__ import annotations

from typing import Any

from report import MiB, fastest, ratio, section

ARRAY_SIDES = ["exca", "joblib", "diskcache", "numpy", "raw"]
STORE_SIDES = ["exca", "joblib", "diskcache"]
STEP_SIDES = ["ours", "exca 0.6.0", "floor"]


def all_sections(run: Any) -> tuple[list[str], list[str]]:
    args, samples = run.args, run.samples
    built = [
        section("Start-up", ["ours", "exca 0.6.0", "floor", "python"], _startup_rows(), samples),
        section("Arrays (store level)", ARRAY_SIDES, _array_rows(args.array_mib), samples),
        section("Small entries (store level)", STORE_SIDES, _entry_rows(args.entries), samples),
        section("Steps over cached arrays", STEP_SIDES, _step_rows(args), samples),
    ]
    return [text for text, _ in built], [f for _, failed in built for f in failed]


def _startup_rows() -> list[tuple[Any, ...]]:
    def target(m: dict[str, float]) -> tuple[str, bool | None]:
        return ratio(m, "ours", "floor", 1.5, faster=False)

    return [("`import exca.steps`, interpreter start to exit (floor: `from pydantic import "
             "BaseModel`; python: `pass`)", "import", "time", 0, target)]  # fmt: skip


def _array_rows(sizes: list[float]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for mib in sizes:
        nbytes, name = mib * MiB, f"{mib:g} MiB"
        rows += [
            (f"write {name} (hashing included; numpy: `np.save`)", f"array_write_{mib}", "rate",
             nbytes, lambda m: _both(ratio(m, "exca", "numpy", 0.9), fastest(m))),
            (f"open {name}, fresh process (numpy: `np.load(mmap_mode='r')`)",
             f"array_open_{mib}", "time", 0, fastest),
            (f"open + read through {name}, page cache warm", f"array_read_{mib}", "rate",
             nbytes, lambda m: _both(ratio(m, "exca", "numpy", 0.9), fastest(m))),
            (f"open + read through {name}, page cache dropped", f"array_cold_{mib}", "rate",
             nbytes, None),
        ]  # fmt: skip
    return rows


def _both(*checks: tuple[str, bool | None]) -> tuple[str, bool | None]:
    verdicts = [v for _, v in checks]
    verdict = None if None in verdicts else all(verdicts)
    return "; ".join(text for text, _ in checks), verdict


def _entry_rows(sizes: list[int]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for n in sizes:
        rows += [
            (f"write {n:,} small values (each library's bulk idiom)", f"small_write_{n}", "time",
             0, fastest),
            (f"open the cache and look up one key, fresh process (its library imported), "
             f"store of {n:,}", f"small_open_first_{n}", "time", 0, fastest),
            (f"first lookup, fresh process, store of {n:,} (after opening: diskcache "
             "connects to SQLite when opened)", f"small_first_{n}", "time", 0, fastest),
            (f"warm hit, per key, store of {n:,}", f"small_hit_{n}", "time", 0, fastest),
            (f"warm miss, per key, store of {n:,}", f"small_miss_{n}", "time", 0, fastest),
            (f"bulk read of all {n:,} (exca: `get_many`; others: one by one)",
             f"small_bulk_{n}", "time", 0, fastest),
        ]  # fmt: skip
    rows.append(("one small write outside any bulk idiom (exca: `cd[k] = v` outside "
                 "`write()`)", "single_write", "time", 0, fastest))  # fmt: skip
    return rows


def _step_rows(args: Any) -> list[tuple[Any, ...]]:
    count, mib = args.many_arrays
    what = f"`run_many` over {count} cached {mib:g} MiB arrays"
    memory_n, memory_mib = args.memory_arrays

    def vs_ref(limit: float) -> Any:
        return lambda m: ratio(m, "ours", "exca 0.6.0", limit)

    def flat(m: dict[str, float]) -> tuple[str, bool | None]:
        if "ours" not in m:
            return "not measured", None
        return f"<= {2 * memory_mib:g} MiB (two arrays)", m["ours"] <= 2 * memory_mib * MiB

    def held(m: dict[str, float]) -> tuple[str, bool | None]:
        if "ours" not in m:
            return "not measured", None
        value = m["ours"] / (memory_n * memory_mib * MiB)
        return f"{value:.2f}x the arrays' bytes (<= 1.1x)", value <= 1.1

    return [
        (f"{what}, same instance", "many_arrays_same", "time", 0, vs_ref(3)),
        (f"{what}, new instance", "many_arrays_new", "time", 0, vs_ref(3)),
        (f"{what}, first in a fresh process (its imports included)", "many_arrays_first",
         "time", 0, None),  # (judged as the whole script, next row)
        (f"the same as a whole script, interpreter start to exit (floor: pydantic + numpy "
         f"imported, `np.load(mmap_mode='r')` of {count} files)", "many_arrays_script", "time",
         0, lambda m: ratio(m, "ours", "floor", 1.3, faster=False)),
        (f"open a cached {args.open_mib:g} MiB array through a new step instance, fresh "
         "process, its modules loaded (floor: `np.load(mmap_mode='r')` of the same bytes)", "open_step", "time", 0,
         lambda m: ratio(m, "ours", "floor", 3, faster=False)),
        (f"a user's whole script: import exca, define a step, read {args.script_items:,} "
         "cached small results (interpreter start to exit)", "small_script", "time", 0,
         vs_ref(3)),
        (f"peak RSS growth reading {memory_n} x {memory_mib:g} MiB one after another, "
         "`keep_in_ram=False`", "memory_peak_False", "bytes", 0, flat),
        ("RSS held after reading them with `keep_in_ram=True`", "memory_end_True", "bytes", 0,
         held),
    ]  # fmt: skip
