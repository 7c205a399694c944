"""What Slurm's answers mean for a claim's owner (``steps/_slurm.py``, ``steps/_liveness.py``).

Contract pinned, without a cluster (the Slurm tests pin it against a real one): an array
task still queued is found in ``sacct``'s range line (``123_[2-5%2]``); the one rule of
liveness: an ended state is ended, any other known state alive, and a job Slurm does not
know alive for the grace bound after this process first found it unknown, then ended.
"""

from __future__ import annotations

from exca.steps import _slurm
from exca.steps._liveness import job_ended


def test_queued_array_tasks_are_read_from_sacct_range_lines() -> None:
    states: dict[str, str | None] = dict.fromkeys(["7_0", "7_3", "7_6", "8", "9_1"])
    lines = ["7_0|RUNNING", "7_[1-3,5%2]|PENDING", "7_6|CANCELLED by 0", "8|COMPLETED"]
    _slurm._read_states(lines, states)
    assert states == {"7_0": "RUNNING", "7_3": "PENDING", "7_6": "CANCELLED", "8": "COMPLETED",
                      "9_1": None}  # fmt: skip


def test_a_known_state_decides_at_once() -> None:
    assert job_ended("41", "PENDING", grace_s=60, now=0.0) is None
    assert job_ended("41", "TIMEOUT", grace_s=60, now=0.0) == "Slurm job 41 is TIMEOUT"


def test_a_job_slurm_does_not_know_is_alive_for_the_grace_bound_then_ended() -> None:
    assert job_ended("42_1", None, grace_s=60, now=1000.0) is None  # just submitted, say
    assert job_ended("42_1", None, grace_s=60, now=1059.0) is None
    assert "unknown to Slurm since 60 s" in str(job_ended("42_1", None, grace_s=60, now=1060.0))
    assert job_ended("42_1", "RUNNING", grace_s=60, now=1061.0) is None  # known again
    assert job_ended("42_1", None, grace_s=60, now=1062.0) is None  # a new grace from now
