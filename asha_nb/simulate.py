"""Virtual-time discrete-event simulation of a scheduler driving N workers.

No wall clock is involved: job durations come from a cost model, so a simulation of 10^4
trials takes a fraction of a second and is exactly reproducible for a seed. This is the engine
of the sync-versus-async teaching view, of several tests and of the benchmarks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_int, check_number, check_optional_int
from .core._base import Scheduler
from .errors import InvalidParameterError, InvalidTypeError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["simulate", "SimulationResult", "TIMELINE_COLUMNS"]

#: Columns of :attr:`SimulationResult.timeline`, one row per job.
TIMELINE_COLUMNS = ("job_id", "worker", "trial_id", "bracket", "rung", "resource", "resume_from",
                    "start", "end", "value", "straggler")

Objective = Callable[[Mapping[str, Any], float], float]
Cost = float | Callable[[Mapping[str, Any], float], float]


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    timeline
        One row per finished job, as a dict of equal-length column lists (keys in
        :data:`TIMELINE_COLUMNS`); :meth:`to_dataframe` turns it into a DataFrame.
    n_workers
        Simulated workers.
    makespan
        Virtual time at which the last job ended (``max_time`` if the run was cut there).
    busy_time
        Sum of job durations (worker-seconds spent training); with ``max_time``, jobs cut
        off count up to ``max_time``.
    utilization
        ``busy_time / (n_workers * makespan)``.
    idle_time
        Worker-seconds spent idle: ``n_workers * makespan - busy_time``.
    best_over_time
        ``(time, trial_id, value, resource)`` each time the incumbent (best result at the
        highest resource reached, see :meth:`~asha_nb.core.Scheduler.best`) changed.
    time_to_max_resource
        Virtual time at which the first configuration finished training at the top rung's
        resource (``None`` if none did).
    scheduler
        The scheduler, in its final state.
    stalled
        ``True`` if the run ended with work left that the scheduler would not hand out.
    """

    timeline: dict[str, list[Any]]
    n_workers: int
    makespan: float
    busy_time: float
    utilization: float
    idle_time: float
    best_over_time: list[tuple[float, int, float, float]]
    time_to_max_resource: float | None
    scheduler: Scheduler
    stalled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_jobs(self) -> int:
        """Number of jobs that ran to the end."""
        return len(self.timeline["job_id"])

    @property
    def n_trials(self) -> int:
        """Number of distinct trials that ran."""
        return len(set(self.timeline["trial_id"]))

    @property
    def idle_share(self) -> float:
        """``1 - utilization``: the share of worker time spent idle."""
        return 1.0 - self.utilization

    @property
    def best(self) -> tuple[int, float, float] | None:
        """Final incumbent ``(trial_id, value, resource)``."""
        if not self.best_over_time:
            return None
        _, tid, value, resource = self.best_over_time[-1]
        return tid, value, resource

    def to_dataframe(self) -> pd.DataFrame:
        """The timeline as a pandas DataFrame (one row per job)."""
        import pandas as pd

        return pd.DataFrame(self.timeline, columns=list(TIMELINE_COLUMNS))

    def busy_workers(self, time: float) -> int:
        """Number of workers running a job at virtual ``time``."""
        return sum(1 for s, e in zip(self.timeline["start"], self.timeline["end"]) if s <= time < e)

    def jobs_per_rung(self) -> dict[int, int]:
        """Number of finished jobs in each rung (all brackets together)."""
        out: dict[int, int] = {}
        for r in self.timeline["rung"]:
            out[r] = out.get(r, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        """A flat dict of the headline numbers."""
        best = self.best
        return {
            "workers": self.n_workers,
            "jobs": self.n_jobs,
            "trials": self.n_trials,
            "makespan": self.makespan,
            "utilization": self.utilization,
            "idle_time": self.idle_time,
            "time_to_max_resource": self.time_to_max_resource,
            "best_value": None if best is None else best[1],
        }


def simulate(
    scheduler: Scheduler,
    objective: Objective | Any,
    *,
    n_workers: int = 4,
    cost: Cost | None = None,
    straggler_probability: float = 0.0,
    straggler_slowdown: float = 3.0,
    checkpointing: bool = True,
    max_time: float | None = None,
    max_jobs: int | None = None,
    seed: int | None = 0,
) -> SimulationResult:
    """Run ``scheduler`` with ``n_workers`` simulated workers in virtual time.

    Each free worker asks ``scheduler.next_job()``; a job's duration is its cost (see
    ``cost``), multiplied by ``straggler_slowdown`` with probability ``straggler_probability``;
    when it ends, ``objective(config, resource)`` is reported. Ties in time are broken by
    worker number, so the run is fully deterministic for a ``seed``.

    Parameters
    ----------
    scheduler
        Any :class:`~asha_nb.core.Scheduler` (ASHA, SHA, Hyperband, AsyncHyperband), fresh.
    objective
        ``(config, resource) -> value``. An object with ``objective`` and ``cost`` methods
        (e.g. :class:`~asha_nb.synthetic.SyntheticBenchmark`) supplies both.
    n_workers
        Number of simulated workers (integer >= 1).
    cost
        Seconds per resource unit (a number, default 1.0), or ``(config, resource) -> seconds``
        to train from scratch to ``resource``.
    straggler_probability
        Chance (0 to 1) that a job is a straggler.
    straggler_slowdown
        How many times longer a straggler takes (>= 1).
    checkpointing
        If ``True``, a promoted job pays only for ``resource - resume_from``; otherwise it
        retrains from scratch.
    max_time
        Stop at this virtual time (jobs still running are not counted).
    max_jobs
        Stop handing out jobs after this many.
    seed
        Seed of the straggler draws.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> from asha_nb import ASHA, SHA, simulate
    >>> from asha_nb.synthetic import SyntheticBenchmark
    >>> bench = SyntheticBenchmark()
    >>> kw = dict(min_resource=1, max_resource=64, reduction_factor=4, seed=1)
    >>> sync = simulate(SHA(bench.space, n_configs=64, **kw), bench, n_workers=10, cost=1.0,
    ...                 straggler_probability=0.2)
    >>> asyn = simulate(ASHA(bench.space, max_trials=64, **kw), bench, n_workers=10, cost=1.0,
    ...                 straggler_probability=0.2)
    >>> sync.jobs_per_rung()
    {0: 64, 1: 16, 2: 4, 3: 1}
    >>> asyn.utilization > sync.utilization
    True
    """
    if not isinstance(scheduler, Scheduler):
        raise InvalidTypeError(
            f"scheduler must be an asha_nb scheduler (ASHA, SHA, Hyperband, AsyncHyperband), "
            f"got {type(scheduler).__name__}"
        )
    n_workers = check_int("n_workers", n_workers, low=1)
    check_number("straggler_probability", straggler_probability, low=0, high=1)
    check_number("straggler_slowdown", straggler_slowdown, low=1)
    if max_time is not None:
        check_number("max_time", max_time, low=0, low_inclusive=False)
    max_jobs = check_optional_int("max_jobs", max_jobs, low=1)
    if scheduler.n_trials or scheduler.n_running:
        raise InvalidParameterError(
            "scheduler must be fresh (no trial created yet); build a new one for each simulation"
        )
    if getattr(scheduler, "max_trials", 0) is None and max_time is None and max_jobs is None:
        raise InvalidParameterError(
            "this scheduler has max_trials=None and would run forever: give max_trials to the "
            "scheduler, or max_time / max_jobs to simulate()"
        )

    if hasattr(objective, "objective") and callable(objective.objective):
        if cost is None and callable(getattr(objective, "cost", None)):
            cost = objective.cost
        objective = objective.objective
    if not callable(objective):
        raise InvalidTypeError(f"objective must be callable (config, resource) -> value, got {objective!r}")
    if cost is None:
        cost = 1.0
    if callable(cost):
        cost_fn = cost
        if checkpointing:
            def duration_of(job):  # noqa: ANN001
                d = cost_fn(job.config, job.resource)
                return d - cost_fn(job.config, job.resume_from) if job.resume_from else d
        else:
            def duration_of(job):  # noqa: ANN001
                return cost_fn(job.config, job.resource)
    else:
        unit = float(check_number("cost", cost, low=0, low_inclusive=False))
        if checkpointing:
            def duration_of(job):  # noqa: ANN001
                return unit * (job.resource - job.resume_from)
        else:
            def duration_of(job):  # noqa: ANN001
                return unit * job.resource

    rng = np.random.default_rng(seed)
    p_strag = float(straggler_probability)
    slow = float(straggler_slowdown)
    # Draw straggler coins in blocks: far cheaper than one Generator call per job.
    coins = rng.random(4096) if p_strag > 0 else None
    coin_i = 0

    cols: dict[str, list[Any]] = {c: [] for c in TIMELINE_COLUMNS}
    c_job, c_worker, c_trial, c_bracket, c_rung, c_res, c_resume, c_start, c_end, c_value, c_strag = (
        cols[c] for c in TIMELINE_COLUMNS)
    top_resource = max(max(r) for r in scheduler.rung_resources)  # type: ignore[attr-defined]
    heap: list[tuple[float, int, Any, float, bool]] = []
    free = list(range(n_workers - 1, -1, -1))  # pop() gives the lowest worker id
    now = 0.0
    issued = 0
    busy = 0.0
    best_over_time: list[tuple[float, int, float, float]] = []
    incumbent = None
    t_max_res: float | None = None
    stalled = False
    push, pop = heapq.heappush, heapq.heappop

    while True:
        # Hand out work to every free worker (lowest id first).
        while free and (max_jobs is None or issued < max_jobs):
            job = scheduler.next_job()
            if job is None:
                break
            w = free.pop()
            d = float(duration_of(job))
            strag = False
            if coins is not None:
                if coin_i == len(coins):
                    coins = rng.random(4096)
                    coin_i = 0
                strag = coins[coin_i] < p_strag
                coin_i += 1
                if strag:
                    d *= slow
            push(heap, (now + d, w, job, now, strag))
            issued += 1
        if not heap:
            stalled = not scheduler.is_finished and (max_jobs is None or issued < max_jobs)
            break
        end, w, job, start, strag = pop(heap)
        if max_time is not None and end > max_time:
            # Time is up: jobs still running count as busy up to max_time, but have no result.
            now = max_time
            busy += sum(max_time - st for _, _, _, st, _ in heap) + (max_time - start)
            heap.append((end, w, job, start, strag))
            break
        now = end
        value = objective(job.config, job.resource)
        scheduler.report(job, value)
        busy += end - start
        c_job.append(job.job_id)
        c_worker.append(w)
        c_trial.append(job.trial_id)
        c_bracket.append(job.bracket)
        c_rung.append(job.rung)
        c_res.append(job.resource)
        c_resume.append(job.resume_from)
        c_start.append(start)
        c_end.append(end)
        c_value.append(value)
        c_strag.append(strag)
        if t_max_res is None and job.resource >= top_resource:
            t_max_res = end
        new_best = scheduler.best()
        if new_best is not None and new_best != incumbent:
            incumbent = new_best
            best_over_time.append((end, new_best[0], new_best[1], new_best[2]))
        # Keep the free list sorted so the lowest worker id is reused first.
        if not free or w < free[-1]:
            free.append(w)
        else:
            free.append(w)
            free.sort(reverse=True)

    makespan = max(c_end) if c_end else 0.0
    if max_time is not None and heap:
        makespan = max(makespan, now)
    capacity = n_workers * makespan
    util = busy / capacity if capacity > 0 else 0.0
    return SimulationResult(
        timeline=cols,
        n_workers=n_workers,
        makespan=makespan,
        busy_time=busy,
        utilization=util,
        idle_time=max(0.0, capacity - busy),
        best_over_time=best_over_time,
        time_to_max_resource=t_max_res,
        scheduler=scheduler,
        stalled=stalled,
    )


