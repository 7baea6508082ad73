"""Virtual-time simulation of a scheduler driving N workers: the runtime in virtual time.

:func:`simulate` is a thin function over the one runtime loop: it runs a
:class:`~asha_nb.Search` whose executor is a :class:`~asha_nb.executors.SimulatedExecutor`
(jobs finish at virtual times given by a cost model, stragglers included) and whose clock is
virtual. No wall clock is involved, so a simulation of 10^4 trials takes a fraction of a second
and is exactly reproducible for a seed, and it shows exactly the scheduler and loop users run.
This is the engine of the sync-versus-async teaching view, of the runtime's logic tests and of
the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._validation import check_int, check_number, check_optional_int
from .core import JobStatus, Scheduler
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
    search
        The :class:`~asha_nb.Search` that ran (its ``records()``, ``results()``,
        ``best_history()``), or ``None``.
    cut
        ``(worker, start)`` of the jobs still running when ``max_time`` cut the run: busy up
        to the cut, without a result.
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
    search: Any = None
    cut: list[tuple[int, float]] = field(default_factory=list)

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
        """Number of workers running a job at virtual ``time`` (jobs cut by ``max_time``
        count as running until the cut)."""
        done = sum(1 for s, e in zip(self.timeline["start"], self.timeline["end"], strict=True)
                   if s <= time < e)
        return done + sum(1 for _, s in self.cut if s <= time < self.makespan)

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
    worker number, so the run is fully deterministic for a ``seed``. This is the runtime
    :class:`~asha_nb.Search` on a :class:`~asha_nb.executors.SimulatedExecutor`; build that
    search yourself to steer it with control calls at virtual times (``search.at(t)``).

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
        Stop at this virtual time (jobs still running are cut there: they count as busy up to
        ``max_time`` but have no result).
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
    from .executors.simulated import SimulatedExecutor
    from .runtime import Search

    if not isinstance(scheduler, Scheduler):
        raise InvalidTypeError(
            f"scheduler must be an asha_nb scheduler (ASHA, SHA, Hyperband, AsyncHyperband), "
            f"got {type(scheduler).__name__}"
        )
    n_workers = check_int("n_workers", n_workers, low=1)
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
    source: Any = objective
    if hasattr(source, "objective") and callable(source.objective):
        if cost is None and callable(getattr(source, "cost", None)):
            cost = source.cost
        objective = source.objective
    if not callable(objective):
        raise InvalidTypeError(
            f"objective must be callable (config, resource) -> value, got {objective!r}")
    executor = SimulatedExecutor(cost, straggler_probability=straggler_probability,
                                 straggler_slowdown=straggler_slowdown,
                                 checkpointing=checkpointing, seed=seed)
    search = Search(objective, scheduler=scheduler, executor=executor, n_workers=n_workers,
                    time_budget=max_time, max_jobs=max_jobs, progress=False)
    search.run()
    return result_of(search, executor, max_time=max_time)


def result_of(search: Any, executor: Any, *, max_time: float | None = None) -> SimulationResult:
    """The :class:`SimulationResult` of a finished search in virtual time."""
    import numpy as np

    cols = search.results(as_frame=False, configs=False)
    order = np.asarray(search.finished_job_ids(), dtype=np.int64)
    if len(order):
        order = order[cols["status"][order] == JobStatus.OK.value]
    timeline: dict[str, list[Any]] = {
        "job_id": order.tolist(),
        "worker": cols["worker"][order].tolist(),
        "trial_id": cols["trial_id"][order].tolist(),
        "bracket": cols["bracket"][order].tolist(),
        "rung": cols["rung"][order].tolist(),
        "resource": cols["resource"][order].tolist(),
        "resume_from": cols["resume_from"][order].tolist(),
        "start": cols["start"][order].tolist(),
        "end": cols["end"][order].tolist(),
        "value": cols["value"][order].tolist(),
    }
    is_straggler = executor.is_straggler
    timeline["straggler"] = [is_straggler(j) for j in timeline["job_id"]]
    timeline = {c: timeline[c] for c in TIMELINE_COLUMNS}
    scheduler = search.scheduler
    top_resource = scheduler.top_resource
    busy = 0.0
    t_max_res: float | None = None
    for start, end, res in zip(timeline["start"], timeline["end"], timeline["resource"],
                               strict=True):
        busy += end - start
        if t_max_res is None and res >= top_resource:
            t_max_res = end
    cut_mask = (cols["status"] == JobStatus.INTERRUPTED.value) & ~np.isnan(cols["start"])
    cut = cols["start"][cut_mask].tolist()
    cut_jobs = list(zip(cols["worker"][cut_mask].tolist(), cut, strict=True))
    c_end = timeline["end"]
    makespan = max(c_end) if c_end else 0.0
    if cut and max_time is not None:
        busy += sum(max_time - st for st in cut)
        makespan = max(makespan, max_time)
    n_workers = search.n_workers
    capacity = n_workers * makespan
    util = busy / capacity if capacity > 0 else 0.0
    return SimulationResult(
        timeline=timeline,
        n_workers=n_workers,
        makespan=makespan,
        busy_time=busy,
        utilization=util,
        idle_time=max(0.0, capacity - busy),
        best_over_time=search.best_history(at_max_resource=True),
        time_to_max_resource=t_max_res,
        scheduler=scheduler,
        stalled=search.stalled,
        search=search,
        cut=cut_jobs if max_time is not None else [],
    )
