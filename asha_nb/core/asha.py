"""ASHA: asynchronous successive halving (Li et al., MLSys 2020), promotion and stopping types."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from .._validation import check_choice, check_int, check_optional_int
from ..space import Space
from ._base import Scheduler
from ._brackets import _SingleBracket, rung_resources
from ._state import _Trial
from .rungs import Rung
from .types import Event, Job, Promoted, Stopped, StopReason, TrialCompleted, TrialStatus

__all__ = ["ASHA"]


class _AsyncBracket:
    """Rungs of one ASHA bracket plus its budget and concurrency cap."""

    __slots__ = ("index", "resources", "rungs", "top", "continuations", "max_trials",
                 "max_concurrent", "n_created", "n_running", "weight")

    def __init__(self, index: int, resources: list[float], sign: float, eta: int, *,
                 max_trials: int | None = None, max_concurrent: int | None = None,
                 weight: float = 1.0):
        self.index = index
        self.resources = resources
        self.rungs = [Rung(k, r, sign, eta) for k, r in enumerate(resources)]
        self.top = len(resources) - 1
        self.continuations: deque[tuple[int, int]] = deque()  # (trial_id, rung) for stopping type
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent
        self.n_created = 0
        self.n_running = 0
        self.weight = weight

    def full(self) -> bool:
        return self.max_concurrent is not None and self.n_running >= self.max_concurrent

    def can_sample(self) -> bool:
        return self.max_trials is None or self.n_created < self.max_trials

    def find_promotion(self) -> tuple[int, int] | None:
        """Algorithm 2: scan rungs from the top down; best promotable in the top 1/eta."""
        rungs = self.rungs
        for k in range(self.top - 1, -1, -1):
            tid = rungs[k].best_promotable()
            if tid is not None:
                return tid, k
        return None


class _AsyncScheduler(Scheduler):
    """Engine shared by :class:`ASHA` and :class:`~asha_nb.core.AsyncHyperband`."""

    _brackets: list[_AsyncBracket]

    def __init__(self, space: Mapping[str, Any] | Space, *, min_resource: float,
                 max_resource: float, reduction_factor: int, mode: str,
                 max_trials: int | None, type: str, seed: int | None):
        super().__init__(space, min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, mode=mode, seed=seed)
        self.max_trials = check_optional_int("max_trials", max_trials, low=1)
        self.type = check_choice("type", type, ("promotion", "stopping"))
        self._stopping = type == "stopping"

    # ------------------------------------------------------------------ next_job
    def next_job(self, events: list[Event] | None = None) -> Job | None:
        if self._closed:
            return None
        trial = self._pop_user_trial(self._user_trial_blocked)
        if trial is not None:
            b = self._brackets[trial.bracket]
            b.n_running += 1
            return self._issue(trial, 0, b.resources)
        trials = self._trials
        for b in self._brackets:
            if b.full():
                continue
            if self._stopping:
                while b.continuations:
                    tid, k = b.continuations.popleft()
                    if trials[tid].status is TrialStatus.PENDING:
                        b.n_running += 1
                        return self._issue(trials[tid], k, b.resources)
            else:
                found = b.find_promotion()
                if found is not None:
                    tid, k = found
                    b.rungs[k].mark_promoted(tid)
                    b.n_running += 1
                    self._promoted(trials[tid], k, b.resources, events)
                    return self._issue(trials[tid], k + 1, b.resources)
        new = self._bracket_for_new_trial()
        if new is None:
            return None
        b = new
        trial = self._new_trial(self.space.sample(self._rng), b.index, "sampled", events)
        b.n_running += 1
        return self._issue(trial, 0, b.resources)

    def _budget_left(self) -> bool:
        return self.max_trials is None or len(self._trials) < self.max_trials

    def _bracket_for_new_trial(self) -> _AsyncBracket | None:
        if not self._budget_left():
            return None
        best: _AsyncBracket | None = None
        best_fill = 0.0
        for b in self._brackets:
            if b.full() or not b.can_sample():
                continue
            fill = b.n_created / b.weight
            if best is None or fill < best_fill:
                best, best_fill = b, fill
        return best

    def _user_trial_blocked(self, trial: _Trial) -> bool:
        """A user-added trial waits while its bracket runs its ``max_concurrent`` jobs."""
        return self._brackets[trial.bracket].full()

    def _bracket_for_user_trial(self) -> int:
        best = min(self._brackets, key=lambda b: (b.n_created / b.weight, b.index))
        return best.index

    def _on_trial_created(self, trial: _Trial) -> None:
        self._brackets[trial.bracket].n_created += 1

    def _on_job_done(self, job: Job) -> None:
        self._brackets[job.bracket].n_running -= 1

    # ------------------------------------------------------------------ results
    def _record(self, trial: _Trial, job: Job, value: float) -> list[Event]:
        b = self._brackets[job.bracket]
        k = job.rung
        rung = b.rungs[k]
        if k == b.top:
            rung.add(trial.trial_id, value, promotable=False)
            self._set_status(trial, TrialStatus.COMPLETED)
            return [TrialCompleted(trial.trial_id, k, value, b.index)]
        if not self._stopping:
            rung.add(trial.trial_id, value)
            self._set_status(trial, TrialStatus.PAUSED)
            return []
        # Stopping type: decide now. Continue iff in the top max(1, floor(n / eta)) of the rung
        # (n counts this result). See the class docstring for the small-rung rule.
        rung.add(trial.trial_id, value, promotable=False)
        tid = trial.trial_id
        keep = rung.in_top(tid) if len(rung) >= self.reduction_factor else rung.is_best(tid)
        if keep and value == value and abs(value) != float("inf"):
            rung.count_promotion()
            self._set_status(trial, TrialStatus.PENDING)
            trial.rung = k + 1
            b.continuations.append((trial.trial_id, k + 1))
            return [Promoted(trial.trial_id, k, k + 1, b.resources[k + 1], b.index)]
        self._set_status(trial, TrialStatus.STOPPED)
        return [Stopped(trial.trial_id, k, StopReason.RUNG, b.index)]

    def _record_orphan(self, trial: _Trial, job: Job, value: float) -> None:
        rung = self._brackets[job.bracket].rungs[job.rung]
        if trial.trial_id not in rung:
            rung.add(trial.trial_id, value, promotable=False)

    def _on_user_stop(self, trial: _Trial, previous: TrialStatus) -> None:
        if previous is TrialStatus.PAUSED:
            self._brackets[trial.bracket].rungs[trial.rung].block(trial.trial_id)

    # ------------------------------------------------------------------ read side
    @property
    def is_finished(self) -> bool:
        if self._running:
            return False
        if self._closed:
            return True
        if self._budget_left():
            return False
        trials = self._trials
        if any(trials[t].status is TrialStatus.PENDING for t in self._user_queue):
            return False
        for b in self._brackets:
            if any(trials[t].status is TrialStatus.PENDING for t, _ in b.continuations):
                return False
            if not self._stopping and b.find_promotion() is not None:
                return False
        return True

    def expected_jobs(self) -> int | None:
        if self.max_trials is None:
            return None
        total = 0
        for b in self._brackets:
            n = b.max_trials if b.max_trials is not None else self.max_trials
            total += sum(n // self.reduction_factor ** k for k in range(b.top + 1))
        return total + max(0, self.n_trials - self.max_trials)  # user-added trials



class ASHA(_AsyncScheduler, _SingleBracket):
    """Asynchronous successive halving.

    With ``type="promotion"`` (default) this is Algorithm 2 of Li et al. (MLSys 2020) exactly:
    when a worker asks for a job, rungs are scanned from the top down; in rung ``k`` the
    candidates are the top ``floor(|rung k| / eta)`` completed results, and the best candidate
    not yet promoted is promoted to rung ``k + 1`` (resuming from its rung-``k`` checkpoint).
    If no rung has a candidate, a new configuration is sampled into rung 0, until
    ``max_trials`` configurations exist. A rung with fewer than ``eta`` results promotes nobody.

    With ``type="stopping"`` (the variant of Ray Tune, Optuna and Determined) a trial keeps
    going after each rung unless it is outside the top ``1/eta`` of the results recorded there
    so far, in which case it is stopped. The decision is taken when the result arrives, and
    the continuation is handed out before any new configuration. **Small-rung rule:** a trial
    continues iff its rank is below ``max(1, floor(n / eta))``, where ``n`` counts its own
    result; so while a rung has fewer than ``eta`` results only a new best continues (a NaN or
    infinite value never continues). The
    strict ``floor(n / eta)`` would stop *every* one of the first ``eta - 1`` trials to reach
    a rung, including the eventual winner, and an early good trial could then never reach
    ``max_resource``; "best so far" is the smallest non-empty top set (Optuna's rule; Ray
    lets the first result of a rung through unconditionally, which is looser).

    Parameters
    ----------
    space
        Search space: a dict of distributions (see :mod:`asha_nb.space`).
    min_resource
        ``r``: resource of rung 0 (with ``early_stopping_rate=0``). Must be > 0.
    max_resource
        ``R``: largest resource a trial may get. Must be >= ``min_resource``.
    reduction_factor
        ``eta`` (integer >= 2): a rung promotes its top ``1/eta``.
    early_stopping_rate
        ``s`` (integer >= 0): rung ``k`` uses ``r * eta**(s + k)``; larger ``s`` stops less early.
    mode
        ``"max"`` if larger values are better (accuracy), ``"min"`` for losses.
    max_trials
        Number of configurations to create (``None``: no limit; the driver decides when to stop).
    type
        ``"promotion"`` (paper) or ``"stopping"`` (see above).
    seed
        Seed of the scheduler's only random number generator.

    Attributes
    ----------
    resources : list
        Resource of each rung, ``r * eta**(s + k)`` capped at ``R``, for ``k = 0 .. K`` with
        ``K = floor(log_eta(R / r)) - s``.

    Examples
    --------
    >>> from asha_nb import ASHA, space
    >>> sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=9,
    ...              reduction_factor=3, max_trials=9, seed=0)
    >>> sched.resources
    [1, 3, 9]
    >>> while not sched.is_finished:
    ...     job = sched.next_job()
    ...     _ = sched.report(job, job.config["x"] * job.resource)
    >>> [r.n_results for r in sched.snapshot().rungs]  # asynchronous: 4 promotions, not 3
    [9, 4, 1]
    """

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        min_resource: float,
        max_resource: float,
        reduction_factor: int = 3,
        early_stopping_rate: int = 0,
        mode: str = "max",
        max_trials: int | None = None,
        type: str = "promotion",
        seed: int | None = None,
    ):
        params = {k: v for k, v in locals().items() if k not in ('self', 'space', '__class__')}
        super().__init__(space, min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, mode=mode, max_trials=max_trials,
                         type=type, seed=seed)
        self._params = params
        self.early_stopping_rate = check_int("early_stopping_rate", early_stopping_rate, low=0)
        resources = rung_resources(self.min_resource, self.max_resource, self.reduction_factor,
                                   self.early_stopping_rate)
        self._brackets = [_AsyncBracket(0, resources, self._sign, self.reduction_factor)]

    def __repr__(self) -> str:
        return (f"ASHA(min_resource={self.min_resource!r}, max_resource={self.max_resource!r}, "
                f"reduction_factor={self.reduction_factor}, early_stopping_rate="
                f"{self.early_stopping_rate}, mode={self.mode!r}, max_trials={self.max_trials!r}, "
                f"type={self.type!r}, seed={self.seed!r})")

