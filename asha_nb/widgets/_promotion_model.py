"""The teaching view's model: the SHA-versus-ASHA workload, simulated, as plain rows and counters.

:class:`PromotionLesson` runs the real schedulers (:class:`~asha_nb.SHA`, :class:`~asha_nb.ASHA`)
with :func:`~asha_nb.simulate` on the same workers, seed and cost model (or replays one run's job
rows) and keeps what the lesson shows as plain data: lesson rows, idle intervals, promotions, the
promotion log, and the counters of any frame. It draws nothing and imports no widget library;
:class:`~asha_nb.widgets.PromotionView` renders it (chart, HTML, GIF, widget).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from .._validation import check_int, check_number
from .._view import SearchView
from ..core import ASHA, SHA, Hyperband
from ..errors import InvalidParameterError, InvalidTypeError
from ..simulate import simulate
from ..synthetic import SyntheticBenchmark
from ..viz import data as _lesson_data
from ..viz import to_records

__all__ = ["PromotionLesson", "lesson_counters"]

FRAMES = 150
INTERVAL = 80
_TITLES = {"SHA": "SHA \u2014 synchronous: every rung is a barrier",
           "ASHA": "ASHA \u2014 asynchronous: promote whenever possible"}

def lesson_counters(rows: Sequence[Mapping[str, Any]], n_workers: int, horizon: float,
                    top_rung: int | None = None) -> dict[str, Any]:
    """Counters of one scheduler over ``[0, horizon]`` from plain job rows.

    Parameters
    ----------
    rows
        Job rows (``trial_id, rung, resource, start, end``); jobs still running at
        ``horizon`` count as busy up to it.
    top_rung
        The rung of the maximum resource (default: the highest rung in ``rows``).

    Returns
    -------
    dict
        The keys of :func:`asha_nb.viz.data.frame_counters` at ``time = horizon``, plus
        ``horizon`` and ``idle_share``.
    """
    recs = to_records(rows)
    if top_rung is None:
        top_rung = max((int(r["rung"]) for r in recs), default=0)
    top = max((float(r["resource"]) for r in recs if int(r["rung"]) == top_rung), default=0.0)
    lr = _lesson_data.lesson_rows(recs, horizon=float(horizon) + 1e-12, n_workers=n_workers,
                                 synchronous=False, top_resource=top or None)
    c = _lesson_data.frame_counters(lr, n_workers, float(horizon))
    c["horizon"] = float(horizon)
    c["idle_share"] = None if c["utilization"] is None else 1.0 - c["utilization"]
    return c



class PromotionLesson:
    """Synchronous SHA and asynchronous ASHA on the same workload, as plain data (one clock).

    Parameters
    ----------
    n_configs
        Configurations SHA starts in rung 0 (default 64).
    reduction_factor
        ``eta`` (default 4): rungs at resources 1, 4, 16, 64 with ``max_resource=64``.
    n_workers
        Simulated workers (default 10).
    straggler_probability
        Chance that a job is a straggler that runs ``straggler_slowdown`` times longer
        (default 0: the storyboard's numbers; try 0.2).
    seed
        Seed of both schedulers and of the straggler draws.
    min_resource, max_resource
        Resources of the bottom and top rung.
    straggler_slowdown
        How many times longer a straggler runs (default 3).
    cost
        Virtual seconds per resource unit (default 1.0, notebook 02's "unit cost"), or
        ``"benchmark"`` for :class:`~asha_nb.synthetic.SyntheticBenchmark`'s width-dependent
        cost.
    checkpointing
        A promoted job resumes from its checkpoint (pays ``resource - resume_from``; default)
        or retrains from scratch.
    frames
        Frames from 0 to the horizon when playing.
    interval
        Milliseconds between two frames when playing.

    Attributes
    ----------
    results
        ``{"SHA": SimulationResult, "ASHA": SimulationResult}``.
    horizon
        SHA's makespan: the last frame's time.
    jobs
        ``{scheduler: lesson rows}`` (see :func:`asha_nb.viz.data.lesson_rows`).
    counters
        ``{scheduler: counters at the horizon}`` (the final values).

    Examples
    --------
    >>> lesson = PromotionLesson()
    >>> lesson.horizon, lesson.counters_at(30.0)["SHA"]["busy_workers"]
    (73.0, 1)
    """

    def __init__(
        self,
        n_configs: int = 64,
        reduction_factor: int = 4,
        n_workers: int = 10,
        straggler_probability: float = 0.0,
        seed: int = 0,
        *,
        min_resource: float = 1,
        max_resource: float = 64,
        straggler_slowdown: float = 3.0,
        cost: float | str = 1.0,
        checkpointing: bool = True,
        frames: int = FRAMES,
        interval: int = INTERVAL,
    ):
        self.n_configs = check_int("n_configs", n_configs, low=1)
        self.reduction_factor = check_int("reduction_factor", reduction_factor, low=2)
        self.n_workers = check_int("n_workers", n_workers, low=1)
        self.straggler_probability = float(
            check_number("straggler_probability", straggler_probability, low=0, high=1))
        self.seed = check_int("seed", seed, low=0)
        self.min_resource = check_number("min_resource", min_resource, low=0,
                                         low_inclusive=False)
        self.max_resource = check_number("max_resource", max_resource, low=min_resource)
        self.straggler_slowdown = float(
            check_number("straggler_slowdown", straggler_slowdown, low=1))
        if isinstance(cost, str):
            if cost != "benchmark":
                raise InvalidParameterError(
                    f"cost must be a number > 0 (seconds per resource unit) or 'benchmark', "
                    f"got {cost!r}")
        else:
            check_number("cost", cost, low=0, low_inclusive=False)
        self.cost = cost
        if not isinstance(checkpointing, bool):
            raise InvalidTypeError(f"checkpointing must be True or False, got {checkpointing!r}")
        self.checkpointing = checkpointing
        self.frames = check_int("frames", frames, low=2)
        self.interval = check_int("interval", interval, low=10)
        self.results: dict[str, Any] = {}
        self._time: float | None = None
        self._simulate()

    # ------------------------------------------------------------------ data
    def _simulate(self) -> None:
        bench = SyntheticBenchmark()
        kw: dict[str, Any] = dict(min_resource=self.min_resource,
                                  max_resource=self.max_resource,
                                  reduction_factor=self.reduction_factor, seed=self.seed)
        sim: dict[str, Any] = dict(
            n_workers=self.n_workers, straggler_probability=self.straggler_probability,
            straggler_slowdown=self.straggler_slowdown, checkpointing=self.checkpointing,
            seed=self.seed)
        objective: Any = bench
        if self.cost != "benchmark":
            sim["cost"] = float(self.cost)
            objective = bench.objective
        sha = simulate(SHA(bench.space, n_configs=self.n_configs, **kw), objective, **sim)
        horizon = float(sha.makespan)
        # Run ASHA past the horizon so that the jobs running at the horizon have their true
        # end (they are drawn running); only jobs that start before the horizon are shown.
        if self.cost == "benchmark":
            longest = bench.cost({"width": 256}, self.max_resource)
        else:
            longest = float(self.cost) * float(self.max_resource)
        bound = horizon + longest * self.straggler_slowdown + 1.0
        asha = simulate(ASHA(bench.space, max_trials=None, **kw), objective, max_time=bound,
                        **sim)
        self.results = {"SHA": sha, "ASHA": asha}
        resources = list(sha.scheduler.rung_resources[0])
        self._set_panels(
            {"SHA": sha.timeline, "ASHA": asha.timeline},
            n_workers={"SHA": self.n_workers, "ASHA": self.n_workers},
            synchronous={"SHA": True, "ASHA": False}, horizon=horizon, resources=resources,
            reduction_factor=self.reduction_factor, mode=bench.mode, titles=_TITLES,
        )

    def _set_panels(self, timelines: Mapping[str, Any], *, n_workers: Mapping[str, int],
                    synchronous: Mapping[str, bool], horizon: float, resources: Sequence[float],
                    reduction_factor: int, mode: str, titles: Mapping[str, str]) -> None:
        self.horizon = float(horizon) if horizon > 0 else 1.0
        self.schedulers = tuple(timelines)
        self.panel_workers = dict(n_workers)
        self.synchronous = dict(synchronous)
        self.resources = [float(r) for r in resources]
        self.n_rungs = len(self.resources)
        self.panel_eta = int(reduction_factor)
        self.mode = mode
        self.titles = dict(titles)
        raw = {s: [r for r in to_records(tl) if r.get("start") is not None
                   and r.get("end") is not None] for s, tl in timelines.items()}
        ranges = _lesson_data.value_ranges(list(raw.values()))
        top = max(self.resources) if self.resources else None
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.idle: dict[str, list[dict[str, Any]]] = {}
        for s, rows in raw.items():
            lr = _lesson_data.lesson_rows(
                rows, horizon=self.horizon, n_workers=self.panel_workers[s],
                synchronous=self.synchronous[s], mode=mode, top_resource=top,
                value_range=ranges)
            for r in lr:
                r["scheduler"] = s
            self.jobs[s] = lr
            idle = _lesson_data.idle_intervals(lr, self.panel_workers[s], self.horizon)
            for r in idle:
                r["scheduler"] = s
            self.idle[s] = idle
        self.promotions = {s: _lesson_data.promotions(rows) for s, rows in self.jobs.items()}
        self.promotion_times = sorted({p["time"] for ps in self.promotions.values() for p in ps
                                       if p["time"] < self.horizon})
        #: Every promotion of every panel with the value and the cutoff it beat, by time
        #: (the log under the animation).
        self.log = sorted(
            ({"scheduler": s, **p} for s in self.schedulers
             for p in _lesson_data.promotion_log(self.jobs[s], reduction_factor=self.panel_eta,
                                                mode=mode, synchronous=self.synchronous[s])
             if p["time"] < self.horizon),
            key=lambda p: (p["time"], self.schedulers.index(p["scheduler"]), p["trial_id"]))
        self.tween = self.horizon / self.frames * 4
        self.counters = self.counters_at(self.horizon)
        self._time = self.horizon

    def next_promotion(self, time: float) -> float | None:
        """The first promotion time after ``time`` (where "Step to next promotion" stops), or
        ``None`` after the last one."""
        t = float(time)
        return next((p for p in self.promotion_times if p > t + 1e-9), None)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """All lesson rows (every scheduler), as the chart receives them."""
        return [r for s in self.schedulers for r in self.jobs[s]]

    def counters_at(self, time: float) -> dict[str, dict[str, Any]]:
        """``{scheduler: counters}`` of the frame at ``time`` (what the chart shows then)."""
        return {s: _lesson_data.frame_counters(self.jobs[s], self.panel_workers[s], time)
                for s in self.schedulers}

    def counter_texts(self, time: float) -> dict[str, dict[str, str]]:
        """``{scheduler: {counter: text}}`` exactly as written on screen at ``time``."""
        return {s: _lesson_data.format_counters(c, synchronous=self.synchronous[s])
                for s, c in self.counters_at(time).items()}

    # ------------------------------------------------------------ replaying runs
    @classmethod
    def from_timeline(cls, timeline: Any, *, n_workers: int | None = None, label: str = "search",
                      horizon: float | None = None, synchronous: bool = False, mode: str = "max",
                      reduction_factor: int | None = None,
                      resources: Sequence[float] | None = None, frames: int = FRAMES,
                      interval: int = INTERVAL) -> Self:
        """Replay one run from job rows (a simulator timeline, or ``search.results()``).

        Parameters
        ----------
        timeline
            Rows with ``trial_id, rung, resource, worker, start, end, value`` (rows without a
            start or an end, e.g. jobs still running, are skipped).
        synchronous
            The run's scheduler promotes at rung barriers (SHA, Hyperband).
        reduction_factor, resources
            Default: inferred from the rows (the ratio of the first two rungs' resources; the
            smallest resource of each rung).
        """
        rows = [r for r in to_records(timeline)
                if r.get("start") is not None and r.get("end") is not None]
        for r in rows:
            r["worker"] = int(r.get("worker") or 0)
            r["rung"] = int(r["rung"])
        self = cls.__new__(cls)
        self.frames = check_int("frames", frames, low=2)
        self.interval = check_int("interval", interval, low=10)
        self.results = {}
        self._time = None
        self.n_configs = len({r["trial_id"] for r in rows})
        nw = int(n_workers or (max((r["worker"] for r in rows), default=0) + 1))
        h = float(horizon or max((float(r["end"]) for r in rows), default=1.0) or 1.0)
        if resources is None:
            per_rung: dict[int, float] = {}
            for r in rows:
                per_rung[r["rung"]] = min(per_rung.get(r["rung"], float("inf")),
                                          float(r["resource"]))
            resources = [per_rung.get(k, float("nan")) for k in range(max(per_rung, default=0) + 1)]
        if reduction_factor is None:
            ok = [x for x in resources if x == x]
            reduction_factor = max(2, round(ok[1] / ok[0])) if len(ok) > 1 and ok[0] > 0 else 3
        self.n_workers = nw
        self.reduction_factor = int(reduction_factor)
        self._set_panels({label: rows}, n_workers={label: nw}, synchronous={label: synchronous},
                         horizon=h, resources=resources, reduction_factor=int(reduction_factor),
                         mode=mode, titles={label: label})
        return self

    @classmethod
    def from_search(cls, search: SearchView, **kwargs: Any) -> Self:
        """Replay a real :class:`~asha_nb.Search`'s finished jobs (from ``search.results()``)."""
        df = search.results()
        sched = search.scheduler
        kwargs.setdefault("n_workers", search.n_workers)
        kwargs.setdefault("label", type(sched).__name__)
        kwargs.setdefault("synchronous", isinstance(sched, (SHA, Hyperband)))
        kwargs.setdefault("mode", search.mode)
        kwargs.setdefault("reduction_factor", sched.reduction_factor)
        rr = sched.rung_resources
        if rr:
            kwargs.setdefault("resources", max(rr, key=len))
        return cls.from_timeline(df, **kwargs)

    def frame_times(self, n_frames: int) -> list[float]:
        """``n_frames`` times from 0 to the horizon (the GIF's frames)."""
        n = check_int("n_frames", n_frames, low=2)
        return [self.horizon * i / (n - 1) for i in range(n)]

    def _settings_text(self) -> str:
        """The settings line: the simulation's parameters, or what a replay shows."""
        if not self.results:
            return (f"Replay of {sum(len(v) for v in self.jobs.values())} jobs on "
                    f"{', '.join(str(n) for n in self.panel_workers.values())} workers.")
        cost = ("width-dependent cost (SyntheticBenchmark)" if self.cost == "benchmark"
                else f"{self.cost:g} virtual s per resource unit")
        return (f"{self.n_configs} configurations for SHA, \u03b7 = {self.reduction_factor}, "
                f"{self.n_workers} workers, {self.straggler_probability:.0%} stragglers "
                f"({self.straggler_slowdown:g}\u00d7 slower), {cost}, "
                f"{'checkpoints' if self.checkpointing else 'no checkpoints'}. "
                f"ASHA runs on the same workers until SHA's makespan and keeps sampling.")

