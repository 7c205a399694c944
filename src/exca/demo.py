"""The README's main job: a cached array preprocessing pipeline, run twice, with a report.

A :class:`~exca.steps.Chain` turns each subject's recording (32 channels of float32,
8 MiB) into a band-passed, downsampled and normalised array. ``run_many`` runs it over
24 subjects; the band-pass and the final step cache their results in a store folder.
The second run serves every item from the cache without running any step.

Run with ``python -m exca.demo [FOLDER]`` (default ``./.exca-demo``).
"""

from __future__ import annotations

import collections
import os
import sys
import time
import typing as tp
from pathlib import Path

import numpy as np

from exca.steps import Chain, Step
from exca.steps.backends import Cached
from exca.store import Store

SUBJECTS = [f"sub-{number:02d}" for number in range(1, 25)]

# how many times each step computed in this process (the Cached backend runs inline)
COMPUTED: collections.Counter[str] = collections.Counter()


class DemoRecording(Step):
    """Load a subject's raw recording (here: a deterministic synthetic signal)."""

    channels: int = 32
    samples: int = 65_536
    rate_hz: float = 512.0

    def _run(self, subject: str) -> np.ndarray:
        COMPUTED[type(self).__name__] += 1
        rng = np.random.default_rng(int(subject.split("-")[1]))
        noise = rng.standard_normal((self.channels, self.samples), dtype=np.float32)
        time_s = np.arange(self.samples, dtype=np.float32) / np.float32(self.rate_hz)
        alpha = np.sin(2 * np.pi * 10.0 * time_s, dtype=np.float32)  # a 10 Hz rhythm
        drift = np.cumsum(noise[:, ::64], axis=1).repeat(64, axis=1)  # slow drift to remove
        return noise + alpha + drift


class DemoBandpass(Step):
    """Keep the frequencies between ``low_hz`` and ``high_hz`` (FFT mask, per channel)."""

    low_hz: float = 1.0
    high_hz: float = 40.0
    rate_hz: float = 512.0

    def _run(self, signal: np.ndarray) -> np.ndarray:
        COMPUTED[type(self).__name__] += 1
        spectrum = np.fft.rfft(signal, axis=1)
        freqs = np.fft.rfftfreq(signal.shape[1], d=1.0 / self.rate_hz)
        spectrum[:, (freqs < self.low_hz) | (freqs > self.high_hz)] = 0
        return np.fft.irfft(spectrum, n=signal.shape[1], axis=1).astype(np.float32)


class DemoDownsample(Step):
    """Average blocks of ``factor`` samples, then z-score each channel."""

    factor: int = 4

    def _run(self, signal: np.ndarray) -> np.ndarray:
        COMPUTED[type(self).__name__] += 1
        channels, samples = signal.shape
        kept = samples - samples % self.factor
        blocks = signal[:, :kept].reshape(channels, kept // self.factor, self.factor)
        reduced = blocks.mean(axis=2, dtype=np.float32)
        centred = reduced - reduced.mean(axis=1, keepdims=True)
        return centred / (centred.std(axis=1, keepdims=True) + np.float32(1e-6))


def build_pipeline(folder: Path) -> Chain:
    """Recording (not cached: loading is cheap) -> band-pass -> downsample (both cached)."""
    cached = Cached(folder=folder)  # each step gets its own copy
    return Chain(steps=[DemoRecording(), DemoBandpass(infra=cached), DemoDownsample(infra=cached)])


def _disk_bytes(folder: Path) -> int:
    return sum(
        os.path.getsize(os.path.join(current, name))
        for current, _, names in os.walk(folder)
        for name in names
    )


def _one_run(number: int, folder: Path) -> dict[str, tp.Any]:
    COMPUTED.clear()
    disk_before = _disk_bytes(folder) if folder.exists() else 0
    pipeline = build_pipeline(folder)  # a new instance, as in a new process
    start = time.perf_counter()
    read = 0
    for result in pipeline.run_many(SUBJECTS):
        float(result.sum(dtype=np.float64))  # a real consumer reads every byte
        read += result.nbytes
    seconds = time.perf_counter() - start
    computed = COMPUTED[DemoDownsample.__name__]
    steps = ", ".join(f"{name} {count}" for name, count in COMPUTED.items()) or "none"
    written = _disk_bytes(folder) - disk_before
    mib = read / 2**20
    print(
        f"run {number}: {computed} computed, {len(SUBJECTS) - computed} from cache "
        f"(step computations: {steps}); {mib:.0f} MiB of results in {seconds:.2f} s "
        f"({mib / max(seconds, 1e-9):,.0f} MiB/s), {written / 2**20:.0f} MiB written"
    )
    return {"computed": computed, "seconds": seconds}


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else ".exca-demo").absolute()
    pipeline = build_pipeline(folder)
    recording = DemoRecording()
    raw_mib = recording.channels * recording.samples * 4 / 2**20
    print(
        f"exca demo: {len(SUBJECTS)} subjects, {raw_mib:.0f} MiB float32 recordings, "
        f"cached in {folder}"
    )
    print(pipeline.show())
    for number in (1, 2):
        _one_run(number, folder)
    report = Store(folder).verify()
    cell = pipeline.lookup(SUBJECTS[0]).paths.step_folder.relative_to(folder)
    print(f"final results of {SUBJECTS[0]}: step folder {cell}")
    print(f"store: {_disk_bytes(folder) / 2**20:.0f} MiB on disk; verify: {report}")
    print("run it again: every item is served from the cache (memory-mapped, checked)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
