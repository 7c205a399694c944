"""Compute once: claim the items no live worker owns, wait (bounded) for the others.

The policy over the store's claim records (``exca.store.claims``). A claim's owner is
gone when it is known dead: on this host its process is gone; for a Slurm job, Slurm
says the job ended or accounting has not known it for ``stale_s`` (trusted over the
heartbeat: a worker can outlive its cancelled job and keep beating); otherwise when
its heartbeat has not changed for ``stale_s`` on the waiter's own clock (clocks of
different hosts are never compared). Every wait ends in a result, a takeover, or a
:class:`ClaimWaitTimeoutError` naming the owner and the claim.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import typing as tp

from . import _liveness
from .errors import ClaimWaitTimeoutError

if tp.TYPE_CHECKING:
    from exca.store.claims import Claim, ClaimTable, Lease

__all__ = [
    "Settings",
    "settings",
    "compute_once",
    "working_under",
    "running",
    "cancel_owners",
]

_SACCT_EVERY_S = 5.0  # sacct is asked at most this often by one waiter


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


_HELD = threading.local()  # tokens of the leases this thread computes under


def held_tokens() -> set[str]:
    """Tokens of the claims the current thread works under (a nested step of the same
    cell must not wait for its own claim)."""
    tokens: set[str] | None = getattr(_HELD, "tokens", None)
    if tokens is None:
        tokens = _HELD.tokens = set()
    return tokens


def compute_once(
    table: ClaimTable,
    keys: list[str],
    compute: tp.Callable[[list[str]], None],
    stored: tp.Callable[[list[str]], tp.Collection[str]],
) -> None:
    """``compute`` (in one or more calls) the ``keys`` no live worker owns, in order.

    Keys owned by others are waited for: ``stored(keys)`` says which of them are done
    (an empty answer: the caller recomputes them once their owner releases them, as
    ``force`` does). Keys whose owner is gone are taken over and computed here.
    """
    config = settings()
    watch = Watch(config)
    deadline = time.monotonic() + config.max_wait_s
    pending: list[str] = keys
    evict: list[Claim] = []
    while pending:
        lease = table.claim(pending, evict=evict, mine=held_tokens())
        if lease.keys:
            _compute_under(lease, [k for k in pending if k in lease.keys], compute)
        waiting = [key for key in pending if key in lease.held]
        pending, evict = _wait(table, waiting, stored, watch, deadline)


def _compute_under(lease: Lease, keys: list[str], compute: tp.Callable[[list[str]], None]) -> None:
    with _holding(lease):
        compute(keys)  # its entries are published when it returns: then release


@contextlib.contextmanager
def _holding(lease: Lease, *others: str) -> tp.Iterator[None]:
    """Beat ``lease`` and count it (and the ``others`` tokens) as this thread's for the
    block; release it after (releasing before the entries are published would let a
    waiter see neither, and compute again)."""
    from exca.store.heartbeat import heartbeat

    tokens, beats = held_tokens(), heartbeat(settings().heartbeat_s)
    tokens.update((lease.token, *others))
    beats.keep(lease)
    try:
        yield
    finally:
        beats.drop(lease)
        lease.release()
        tokens.difference_update((lease.token, *others))


@contextlib.contextmanager
def working_under(
    table: ClaimTable, token: str, keys: list[str], driver_pid: int
) -> tp.Iterator[None]:
    """Run a unit of work under its driver's claim ``token``: in the driver's process
    (a thread pool) the claim is the driver's and beats there; elsewhere (a pool process,
    a Slurm job) the worker replaces it with a claim naming itself, beats it and
    releases it once the block (which publishes the entries) has ended."""
    tokens = held_tokens()
    if os.getpid() == driver_pid:
        tokens.add(token)
        try:
            yield
        finally:
            tokens.discard(token)
        return
    with _holding(table.claim(keys, mine=tokens, replacing=token), token):
        yield


def _wait(
    table: ClaimTable,
    waiting: list[str],
    stored: tp.Callable[[list[str]], tp.Collection[str]],
    watch: Watch,
    deadline: float,
) -> tuple[list[str], list[Claim]]:
    """Wait until each key is stored, free, or held by a gone owner; returns the keys to
    claim again and the claims to evict."""
    pause = 0.005
    while waiting:
        done = stored(waiting)
        waiting = [key for key in waiting if key not in done] if done else waiting
        if not waiting:
            break
        holders = _holders(table.claims(), waiting)
        gone = watch.gone(set(holders.values()))
        if gone or len(holders) < len(waiting):
            return waiting, gone
        if time.monotonic() > deadline:
            raise ClaimWaitTimeoutError(holders[waiting[0]], len(waiting), watch.config)
        time.sleep(pause)
        pause = min(pause * 2, watch.config.poll_s)
    return [], []


def _holders(claims: dict[str, Claim], keys: list[str]) -> dict[str, Claim]:
    """The claim holding each of ``keys`` (those held by none are absent)."""
    wanted = set(keys)
    mine = held_tokens()
    holders: dict[str, Claim] = {}
    for claim in claims.values():
        if claim.token not in mine:
            holders.update(dict.fromkeys(claim.keys & wanted, claim))
    return holders


class Watch:
    """What one waiter saw of the claims it waits for, timed on its own clock."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self._beats: dict[str, tuple[int, float]] = {}  # token -> (beat, first seen at)
        self._unknown: dict[str, float] = {}  # Slurm job -> first found unknown at
        self._states: dict[str, str | None] | None = {}
        self._asked = -_SACCT_EVERY_S

    def gone(self, claims: tp.Collection[Claim]) -> list[Claim]:
        """The claims whose owner is gone (each logged with the reason)."""
        now = time.monotonic()
        jobs = {claim.owner.slurm_job for claim in claims if claim.owner.slurm_job}
        if jobs and (now - self._asked > _SACCT_EVERY_S or not jobs <= set(self._states or ())):
            self._states, self._asked = _liveness.slurm_states(jobs), now
        return [claim for claim in claims if self.reason(claim, now) is not None]

    def reason(self, claim: Claim, now: float) -> str | None:
        """Why ``claim``'s owner counts as gone, or None while it may still compute."""
        owner, stale_s = claim.owner, self.config.stale_s
        alive = _liveness.process_alive(owner)
        if alive is False:
            return f"{owner} is gone"
        job = owner.slurm_job
        if job and self._states is not None:
            state = self._states.get(job)
            if state in _liveness.ENDED:
                return f"Slurm job {job} is {state}"
            if state is not None:
                return None  # Slurm says it runs: trusted over the heartbeat
            if now - self._unknown.setdefault(job, now) > stale_s:
                return f"Slurm job {job} is unknown to sacct since {stale_s:.0f} s"
        if alive:
            return None
        seen = self._beats.get(claim.token)
        if seen is None or seen[0] != claim.beat:
            self._beats[claim.token] = (claim.beat, now)
            return None
        if now - seen[1] > stale_s:
            return f"no heartbeat from {owner} for {now - seen[1]:.0f} s"
        return None


def running(table: ClaimTable, key: str) -> bool:
    """Whether a worker that may still be alive holds ``key`` (one look, no waiting:
    a claim of another host without Slurm to ask counts as running)."""
    claims = [claim for claim in table.claims().values() if key in claim.keys]
    if not claims:
        return False
    jobs = {claim.owner.slurm_job for claim in claims if claim.owner.slurm_job}
    states = _liveness.slurm_states(jobs)
    for claim in claims:
        job = claim.owner.slurm_job
        if _liveness.process_alive(claim.owner) is False:
            continue
        if job and states is not None and (states.get(job) or "ENDED") in _liveness.ENDED:
            continue  # (unknown to accounting counts as ended here: no waiting to judge it)
        return True
    return False


def cancel_owners(table: ClaimTable, keys: tp.Collection[str]) -> list[str]:
    """``scancel`` the live Slurm jobs (not this process's own) holding any of ``keys``,
    as ``force`` and ``clear_cache()`` do; returns the jobs cancelled. Local processes
    are not killed: their work is superseded (``force`` recomputes once they release)."""
    from exca.store.owner import current_owner

    own = current_owner().slurm_job
    wanted = set(keys)
    jobs = {
        claim.owner.slurm_job
        for claim in table.claims().values()
        if claim.owner.slurm_job and claim.owner.slurm_job != own and claim.keys & wanted
    }
    states = _liveness.slurm_states(jobs) or {}
    live = sorted(job for job in jobs if (states.get(job) or "ENDED") not in _liveness.ENDED)
    _liveness.cancel_slurm_jobs(live)
    return live
