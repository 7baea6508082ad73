"""The :class:`Search` facade: construction, life cycle and the public API of a search.

The work is done by the loop (:mod:`asha_nb.runtime._loop`); control calls become commands
(:mod:`asha_nb.runtime._commands`); records live in :mod:`asha_nb.runtime._records`; a journaled
search is rebuilt by :mod:`asha_nb.runtime._restore`. Only the loop thread mutates the
scheduler: other threads post requests and read immutable snapshots and records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from .._validation import check_int, check_number, check_optional_int
from ..clock import Clock, VirtualClock, WallClock
from ..core import JobStatus, Scheduler
from ..errors import InvalidParameterError, InvalidTypeError, SearchStateError
from ..executors import BaseExecutor, make_executor
from ..executors.simulated import SimulatedExecutor
from ..results import JobRecord
from ._commands import Command, Request, check_args
from ._loop import Loop
from ._options import (
    RUNTIME_OPTIONS,
    ScheduledControls,
    build_scheduler,
    objective_fingerprint,
    same_objective,
)
from ._restore import restore_records
from .events import SearchSnapshot, SearchState
from .journal import Journal, replay

__all__ = ["Search", "ScheduledControls", "objective_fingerprint"]

logger = logging.getLogger("asha_nb.runtime")

_LIVE: weakref.WeakSet[Search] = weakref.WeakSet()
_EXIT_HOOKED = False


def _end_live_searches() -> None:
    """At interpreter exit: end running searches quietly (before thread pools refuse work)."""
    for s in list(_LIVE):
        s._end_at_exit()


class Search:
    """An ASHA (or SHA / Hyperband) search running trials on threads, processes, Dask, any
    ``concurrent.futures`` executor, batches, or in virtual time.

    Parameters
    ----------
    objective
        ``objective(config, resource) -> float``, ``objective(config, resource, checkpoint) ->
        (value, checkpoint)`` or ``objective(trial)`` using ``trial.report(value, resource)``,
        ``trial.should_stop()``, ``trial.save(ckpt)`` and ``trial.checkpoint``; ``async def``
        objectives work too. Its signature is checked here.
    space
        Search space (dict of distributions). Leave it out when ``scheduler`` is an instance.
    scheduler
        ``None`` (ASHA built from the keyword options below), a dict of extra ASHA keyword
        arguments, or a scheduler instance (ASHA, SHA, Hyperband, AsyncHyperband). Scheduler
        options belong in one place: giving one both here and as a keyword is an error.
    executor
        ``"thread"`` (default), ``"process"``, ``"dask"``, a ``distributed.Client``, any
        ``concurrent.futures.Executor``, an :class:`~asha_nb.executors.BaseExecutor` instance,
        or a :class:`~asha_nb.executors.SimulatedExecutor` for a search in virtual time.
    n_workers
        Number of jobs kept in flight (integer >= 1).
    journal
        Path of an SQLite journal; every scheduler call is appended before it is acted on, so
        :meth:`Search.from_journal` can continue after a crash. Checkpoints go to
        ``<journal>.checkpoints/`` as pickles (resume only journals you created).
    max_trials
        Number of configurations (only with ``scheduler=None`` or a dict).
    time_budget
        Seconds (on the search's clock) after which the search ends; running jobs are
        interrupted.
    target
        The search ends once a result reaches it (``>=`` for ``mode="max"``, ``<=`` for min).
    seed, min_resource, max_resource, reduction_factor, mode
        ASHA options (``scheduler=None`` or a dict); defaults 1, 81, 3 and ``"max"``.
    job_timeout
        Per-job limit in seconds, counted from the job's real start. A job past it fails; a
        process job is killed; a thread that cannot be killed keeps its worker busy until it
        returns, and its late value is recorded.
    retries
        How many times a job whose objective raised (or whose worker crashed) is re-run before
        the trial fails.
    max_jobs
        Stop handing out jobs after this many (``None``: no limit; mostly for simulations).
    progress
        ``"auto"`` (progress bar in :meth:`run`), ``True`` or ``False``.

    Examples
    --------
    >>> from asha_nb import space
    >>> from asha_nb.runtime import Search
    >>> s = Search(lambda c, r: c["x"] * r, {"x": space.uniform(0, 1)}, max_trials=9,
    ...            max_resource=9, seed=0, progress=False).run()
    >>> s.state, s.best["resource"]
    (<SearchState.FINISHED: 'finished'>, 9)
    """

    def __init__(
        self,
        objective: Callable[..., Any],
        space: Mapping[str, Any] | None = None,
        *,
        scheduler: Scheduler | Mapping[str, Any] | None = None,
        executor: Any = "thread",
        n_workers: int = 2,
        journal: str | os.PathLike[str] | None = None,
        max_trials: int | None = None,
        time_budget: float | None = None,
        target: float | None = None,
        seed: int | None = None,
        min_resource: float | None = None,
        max_resource: float | None = None,
        reduction_factor: int | None = None,
        mode: str | None = None,
        job_timeout: float | None = None,
        retries: int = 0,
        max_jobs: int | None = None,
        progress: bool | str = "auto",
    ):
        if not callable(objective):
            raise InvalidTypeError(
                f"objective must be a callable such as objective(config, resource) -> value, "
                f"got {type(objective).__name__}: {objective!r:.80}"
            )
        self.objective = objective
        n_workers = check_int("n_workers", n_workers, low=1)
        if time_budget is not None:
            check_number("time_budget", time_budget, low=0, low_inclusive=False)
        if target is not None:
            check_number("target", target)
        if job_timeout is not None:
            check_number("job_timeout", job_timeout, low=0, low_inclusive=False)
        retries = check_int("retries", retries, low=0)
        max_jobs = check_optional_int("max_jobs", max_jobs, low=1)
        if progress not in (True, False, "auto"):
            raise InvalidParameterError(
                f"progress must be one of True, False, 'auto'; got {progress!r}")
        self.progress = progress
        sched = build_scheduler(space, scheduler, max_trials=max_trials, seed=seed,
                                      min_resource=min_resource, max_resource=max_resource,
                                      reduction_factor=reduction_factor, mode=mode)
        self.scheduler = sched
        self.mode = sched.mode
        self._executor_spec = executor
        ex = make_executor(executor)
        ex.check_objective(objective)
        own_clock = getattr(ex, "clock", None) if getattr(ex, "virtual", False) else None
        clock: Clock = own_clock if isinstance(own_clock, VirtualClock) else WallClock()
        self._restored = False
        self._journal_path = None
        j: Journal | None = None
        if journal is not None:
            if sched.n_trials or sched.n_running:
                raise InvalidParameterError(
                    "scheduler must be fresh (no trial created yet) to be journaled, so that "
                    f"Search.from_journal can replay it; got one with {sched.n_trials} trials"
                )
            j = Journal.create(journal)  # checks the path, takes the journal's lock
            self._journal_path = os.fspath(j.path)
        try:
            self._loop = Loop(sched, objective, ex, clock, n_workers=n_workers, journal=j,
                              time_budget=time_budget, target=target, job_timeout=job_timeout,
                              retries=retries, max_jobs=max_jobs)
            if j is not None:
                j.write_meta(sched, self._options(), getattr(clock, "origin", 0.0),
                             virtual=clock.virtual,
                             fingerprint=objective_fingerprint(objective))
        except BaseException:
            if j is not None:
                j.close()  # never leave the journal locked by a search that was not built
            raise
        self._thread: threading.Thread | None = None
        self._stepping = False  # a virtual search between two run(until=...) calls
        self._done: cf.Future[Search] = cf.Future()
        self._dashboard: Any = None

    # ------------------------------------------------------------------ construction helpers
    def _options(self) -> dict[str, Any]:
        loop = self._loop
        spec = self._executor_spec
        ex = loop.executor
        if getattr(ex, "virtual", False):
            # A virtual search is resumed in virtual time, with the same cost model.
            spec = {"simulated": ex.settings()} if hasattr(ex, "settings") else "simulated"
        return {
            "executor": spec if isinstance(spec, (str, dict)) else "thread",
            "n_workers": loop.n_workers,
            "time_budget": loop.time_budget,
            "target": loop.target,
            "job_timeout": loop.job_timeout,
            "retries": loop.retries,
            "max_jobs": loop.max_jobs,
            "progress": self.progress,
        }

    # ------------------------------------------------------------------ journal
    @classmethod
    def from_journal(
        cls,
        journal: str | os.PathLike[str],
        objective: Callable[..., Any],
        *,
        allow_other_objective: bool = False,
        **overrides: Any,
    ) -> Search:
        """Continue a journaled search after a crash, a kill or ``stop()``.

        The scheduler is rebuilt exactly by replaying the journaled calls on a fresh scheduler
        built from the stored class, parameters and space; jobs that were out are run again
        (from the trial's last checkpoint on disk when its resource matches).

        Parameters
        ----------
        journal
            Path given as ``journal=`` to the original search.
        objective
            The objective (functions are not stored in the journal). It must be the same
            function as before (same qualified name and, where the source is available, the
            same source), unless ``allow_other_objective=True``.
        allow_other_objective
            Resume with a different objective on purpose (its results then mix with the old
            ones in one search).
        **overrides
            Runtime options to change: ``executor``, ``n_workers``, ``time_budget``,
            ``target``, ``job_timeout``, ``retries``, ``max_jobs``, ``progress``.

        Returns
        -------
        Search
            Not started: call :meth:`run` or :meth:`start`.
        """
        bad = sorted(set(overrides) - set(RUNTIME_OPTIONS))
        if bad:
            raise InvalidParameterError(
                f"Search.from_journal accepts only runtime options {list(RUNTIME_OPTIONS)} as "
                f"overrides; got {bad} (scheduler options are fixed by the journal)"
            )
        j = Journal.open_existing(journal)
        try:
            rr = replay(j)
            stored = rr.meta.get("fingerprint")
            if stored and not allow_other_objective:
                now = objective_fingerprint(objective)
                if not same_objective(stored, now):
                    raise InvalidParameterError(
                        f"objective {now['name']} is not the objective this journal was "
                        f"written with ({stored.get('name')}, source hash "
                        f"{stored.get('source_sha256') or 'unknown'}; now "
                        f"{now['source_sha256'] or 'unknown'}): resuming would mix results of "
                        "two objectives in one search. Pass the same objective, or "
                        "allow_other_objective=True if you mean it")
            restored = restore_records(rr)
            opts = dict(rr.meta["options"])
            stored_ex = opts.get("executor")
            if isinstance(stored_ex, dict) and "simulated" in stored_ex:
                opts["executor"] = SimulatedExecutor(**stored_ex["simulated"])
            opts.update(overrides)
            was_virtual = bool(rr.meta.get("virtual"))
            is_virtual = bool(getattr(make_executor(opts["executor"]), "virtual", False))
            if was_virtual != is_virtual:
                raise InvalidParameterError(
                    f"journal {os.fspath(journal)!r} holds a search in "
                    f"{'virtual' if was_virtual else 'real'} time: resume it "
                    + ("in virtual time (executor=SimulatedExecutor(...))" if was_virtual
                       else "on a real executor (thread, process, dask, ...)")
                    + f", not with executor={overrides.get('executor')!r}")
        except BaseException:
            j.close()
            raise
        self = cls.__new__(cls)
        try:
            self._init_restored(objective, rr.scheduler, j, opts, rr.meta, restored)
        except BaseException:
            j.close()
            raise
        return self

    def _init_restored(self, objective: Callable[..., Any], sched: Scheduler, j: Journal,
                       opts: dict[str, Any], meta: dict[str, Any], restored: Any) -> None:
        self.objective = objective
        self.progress = opts.get("progress", "auto")
        self.scheduler = sched
        self.mode = sched.mode
        self._executor_spec = opts.get("executor", "thread")
        ex = make_executor(self._executor_spec)  # the same instance make_executor checked
        ex.check_objective(objective)
        clock: Clock
        virtual_clock = getattr(ex, "clock", None)
        if getattr(ex, "virtual", False) and isinstance(virtual_clock, VirtualClock):
            virtual_clock.advance_to(max(virtual_clock.t, restored.last_time))
            clock = virtual_clock
        else:
            clock = WallClock(origin=meta["t0"])
        self._restored = True
        self._journal_path = os.fspath(j.path)
        n_workers = check_int("n_workers", opts.get("n_workers", 2), low=1)
        loop = Loop(sched, objective, ex, clock, n_workers=n_workers, journal=j,
                    time_budget=opts.get("time_budget"), target=opts.get("target"),
                    job_timeout=opts.get("job_timeout"), retries=opts.get("retries", 0),
                    max_jobs=opts.get("max_jobs"))
        for rec in restored.records:
            loop.store.put(rec)
        loop.pending.extend((job, 0) for job in restored.rerun)
        loop.n_issued = restored.n_issued
        done = sorted((r for r in restored.records if r.value is not None and r.end is not None
                       and r.status in (JobStatus.OK, JobStatus.STOPPED)), key=lambda r: r.end)
        for rec in done:  # the best-so-far histories, from the recorded values
            loop.track_best(rec.trial_id, rec.resource, rec.value, rec.end)
        self._loop = loop
        self._thread = None
        self._stepping = False
        self._done = cf.Future()
        self._dashboard = None

    # ------------------------------------------------------------------ running
    @property
    def state(self) -> SearchState:
        """A :class:`~asha_nb.runtime.events.SearchState` (compares equal to ``"running"``,
        ``"finished"``, ...)."""
        return self._loop.state

    @property
    def n_workers(self) -> int:
        """Number of jobs kept in flight."""
        return self._loop.n_workers

    @property
    def virtual(self) -> bool:
        """Whether the search runs in virtual time (a simulated executor)."""
        return self._loop.virtual

    def _check_startable(self, what: str) -> None:
        loop = self._loop
        if self._stepping:
            raise SearchStateError(
                f"cannot {what}: the search is being run step by step with run(until=...); "
                "call run() to run it to the end")
        if self._thread is not None or loop.state is not SearchState.CREATED:
            if loop.state is SearchState.STOPPED and self._thread is None:
                raise SearchStateError(
                    f"cannot {what}: the search was stopped before it started; build a new "
                    "Search (or Search.from_journal to continue a journaled one)")
            if loop.state.is_terminal:
                raise SearchStateError(
                    f"cannot {what}: the search already ran and is {loop.state} "
                    f"({loop.reason or 'no reason recorded'}); build a new Search, or "
                    "Search.from_journal(journal, objective) to continue a journaled one")
            raise SearchStateError(
                f"cannot {what}: the search was already started and is {loop.state}; use "
                "wait() (or await search) to wait for it")

    def _begin(self) -> None:
        loop = self._loop
        if not self._restored and isinstance(loop.clock, WallClock):
            loop.clock.origin = time.time()  # the timeline starts when the search starts
            if loop.journal is not None:
                loop.journal.set_origin(loop.clock.origin)
        _LIVE.add(self)
        global _EXIT_HOOKED
        if not _EXIT_HOOKED:
            _EXIT_HOOKED = True
            # Runs before concurrent.futures refuses new work at interpreter exit.
            threading._register_atexit(_end_live_searches)  # type: ignore[attr-defined]

    def start(self) -> Search:
        """Start the loop in a background thread and return at once.

        A search in virtual time also runs in the background (steer it from other threads, or
        schedule calls with :meth:`at`); :meth:`run` runs it on the calling thread instead.
        """
        self._check_startable("start")
        self._begin()
        loop = self._loop
        loop.background = True
        if "ipykernel" in sys.modules:
            _preload_view_modules()
        self._thread = threading.Thread(target=self._run_loop, name="asha_nb-search",
                                        daemon=True)
        self._thread.start()
        return self

    def _run_loop(self) -> None:
        try:
            self._loop.run()
        finally:
            _LIVE.discard(self)
            if not self._done.done():
                self._done.set_result(self)

    def run(self, until: float | None = None) -> Search:
        """Run to the end (blocking), with a progress bar unless ``progress=False``.

        A search in virtual time runs on the calling thread, instantly.

        Parameters
        ----------
        until
            Virtual time only: run until the search's clock reaches ``until`` and return; call
            ``run`` again (with a later ``until``, or none) to go on. Between two calls the
            search is idle: control calls (``stop_trial``, ``add_trial``, ``pause``, ...) apply
            at once, at that virtual time.

        Returns
        -------
        Search
            ``self``. Raises the loop's error if the loop itself crashed.
        """
        loop = self._loop
        if until is not None:
            check_number("until", until, low=0)
            if not loop.virtual:
                raise InvalidParameterError(
                    "until= needs a search in virtual time (executor=SimulatedExecutor(...)); "
                    "a real search runs to its end, or use time_budget=")
        if loop.virtual and (self._thread is None or self._stepping):
            if not self._stepping:
                self._check_startable("run")
                self._begin()
            self._stepping = True
            loop.store.shared = False  # no reader can look while it runs on this thread
            try:
                ended = loop.run(until)
            finally:
                loop.store.shared = True
            if ended:
                self._stepping = False
                self._thread = threading.current_thread()
                _LIVE.discard(self)
                if not self._done.done():
                    self._done.set_result(self)
        else:
            bar = None
            if self.progress is True or (self.progress == "auto" and not loop.virtual):
                from .progress import ProgressBar

                bar = ProgressBar(self)
            try:
                if self._thread is None:
                    self.start()
                try:
                    while not self.wait(0.2):
                        if bar is not None:
                            bar.update()
                except KeyboardInterrupt:
                    if not loop.state.is_terminal:
                        self.stop()
                    raise
            finally:
                if bar is not None:
                    bar.close()
        if loop.error is not None:
            raise SearchStateError(f"the search loop failed: {loop.error!r}") from loop.error
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends or ``timeout`` seconds pass; return whether it ended."""
        if self._thread is None:
            return self._loop.state.is_terminal
        try:
            self._done.result(timeout)
        except cf.TimeoutError:
            return False
        return True

    def __await__(self) -> Any:
        if self._thread is None and not self._loop.state.is_terminal:
            self.start()
        return asyncio.wrap_future(self._done).__await__()

    def _end_at_exit(self) -> None:
        loop = self._loop
        if loop.state.is_terminal or self._thread is None:
            return
        loop.post(Request(Command.STOP, {}))
        try:
            self._done.result(timeout=5)
        except cf.TimeoutError:
            logger.warning("asha_nb: a search was still running at interpreter exit")

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the loop thread for each event; returns an unsubscriber.

        Events are the core's (``TrialCreated``, ``Promoted``, ``ResultRecorded``, ``Stopped``,
        ``TrialCompleted``, ``TrialFailed``) and the runtime's (``JobStarted``,
        ``JobFinished``, ``IntermediateValue``, ``StateChanged``, ``ControlApplied``). A
        callback must be quick and must not block on the search.
        """
        return self._loop.subscribe(callback)

    # ------------------------------------------------------------------ control
    def _control(self, command: Command, args: Mapping[str, Any]) -> Any:
        args = check_args(command, args)
        loop = self._loop
        with loop.lock:
            state = loop.state
            if state.is_terminal:
                raise SearchStateError(
                    f"cannot {command}: the search is {state}; control calls need a created, "
                    "running or paused search")
            direct = (self._thread is None or threading.current_thread() is self._thread
                      or loop.is_driving())
            req = Request(command, args)
            if direct:
                loop.apply(req)
                loop.refresh_snapshot(force=True)
            else:
                loop.post(req)
        return req.future.result(timeout=None if direct else 120)

    def _schedule(self, command: Command, args: Mapping[str, Any], at: float) -> cf.Future[Any]:
        args = check_args(command, args)
        loop = self._loop
        with loop.lock:
            if loop.state.is_terminal:
                raise SearchStateError(
                    f"cannot schedule {command}: the search is {loop.state}")
            req = Request(command, args, at=at)
            if (self._thread is None or threading.current_thread() is self._thread
                    or loop.is_driving()):
                loop.schedule(req)
            else:
                loop.post(req)
        return req.future

    def at(self, time: float) -> ScheduledControls:
        """Control calls applied when the search's clock reaches ``time`` (seconds since start).

        Works in real time and in virtual time (there it is how a simulated search is steered,
        exactly and reproducibly). A call scheduled after the search ended fails with
        :class:`~asha_nb.errors.SearchStateError` in its future.

        Examples
        --------
        >>> from asha_nb import space
        >>> from asha_nb.executors import SimulatedExecutor
        >>> s = Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_resource=9,
        ...            n_workers=2, seed=0, executor=SimulatedExecutor(cost=1.0), progress=False)
        >>> trial = s.at(3.0).add_trial({"x": 0.99})
        >>> _ = s.at(40.0).stop()
        >>> str(s.run().state), trial.result()
        ('stopped', 5)
        """
        check_number("time", time, low=0)
        return ScheduledControls(self, float(time))

    def stop_trial(self, trial_id: int) -> None:
        """Stop a trial: it is never promoted, and its running job is stopped (killed where the
        executor can, cooperatively via ``trial.should_stop()`` otherwise)."""
        self._control(Command.STOP_TRIAL, {"trial_id": trial_id})

    def add_trial(self, config: Mapping[str, Any], *, check: bool = True) -> int:
        """Add a configuration (missing keys are sampled); returns its trial id.

        Values outside their domain are refused unless ``check=False``.
        """
        return int(self._control(Command.ADD_TRIAL, {"config": config, "check": check}))

    def pause(self) -> None:
        """Hand out no new jobs; running ones finish."""
        self._control(Command.PAUSE, {})

    def resume(self) -> None:
        """Hand out jobs again after :meth:`pause` (to continue a journaled search after a
        crash, use :meth:`Search.from_journal`)."""
        self._control(Command.RESUME, {})

    def stop(self) -> None:
        """Stop the search: no new jobs, running jobs are stopped, state ``"stopped"``."""
        loop = self._loop
        if self._thread is None:
            with loop.lock:
                if loop.state.is_terminal:
                    raise SearchStateError(f"cannot stop: the search is {loop.state}")
                reason = "stop()" if self._stepping else "stop() before start"
                loop.request_end(reason, stopped=True)
                loop.finish(SearchState.STOPPED, reason)
            self._stepping = False
            if not self._done.done():
                self._done.set_result(self)
            return
        self._control(Command.STOP, {})
        self.wait(60)

    def set_n_workers(self, n_workers: int) -> None:
        """Change the number of jobs kept in flight."""
        self._control(Command.SET_N_WORKERS, {"n_workers": n_workers})

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> SearchSnapshot:
        """An immutable picture of the search (safe from any thread; the loop refreshes it at
        most every 50 ms while running, and after every control call)."""
        loop = self._loop
        if self._thread is None or threading.current_thread() is self._thread or (
                loop.state.is_terminal) or loop.is_driving():
            loop.refresh_snapshot(force=True)
        snap = loop.snapshot()
        if loop.started_at is not None and not snap.state.is_terminal:
            # The clock keeps running while nothing changes (e.g. paused): elapsed is now.
            snap = dataclasses.replace(snap, elapsed=loop.clock.now())
        return snap

    @property
    def best(self) -> dict[str, Any] | None:
        """``dict(trial_id, value, resource, config)`` of the best result at the highest
        resource reached, or ``None``."""
        snap = self.snapshot()
        if snap.best_trial is None:
            return None
        return {"trial_id": snap.best_trial, "value": snap.best_value,
                "resource": snap.best_resource, "config": dict(snap.best_config or {})}

    def best_history(self, *, at_max_resource: bool = False) -> list[tuple[float, int, float, float]]:
        """``(time, trial_id, value, resource)`` each time the best value so far improved.

        By default the best finite value at any rung (it never gets worse); with
        ``at_max_resource=True``, the incumbent :attr:`best` (best at the highest resource
        reached), each time it changed.
        """
        loop = self._loop
        return list(loop.incumbents if at_max_resource else loop.best_any)

    def _trial_snapshots(self) -> Any:
        loop = self._loop
        live = (self._thread is not None and not loop.state.is_terminal
                and threading.current_thread() is not self._thread and not loop.is_driving())
        if live:
            req = Request(Command.READ_TRIALS, {})
            loop.post(req)
            try:
                return req.future.result(timeout=120)
            except SearchStateError:  # the loop ended meanwhile: nothing mutates any more
                pass
        with loop.lock:
            return self.scheduler.snapshot().trials

    @property
    def trials(self) -> Any:
        """One row per trial: status (a :class:`~asha_nb.core.TrialStatus` value), rung reached,
        last value, error, config columns (a DataFrame)."""
        import pandas as pd

        rows = []
        for t in self._trial_snapshots():
            row = {"trial_id": t.trial_id, "status": t.status.value, "rung": t.rung,
                   "bracket": t.bracket, "value": t.values[-1][1] if t.values else None,
                   "error": t.error}
            row.update({f"config_{k}": v for k, v in t.config.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """Intermediate ``(resource, value)`` pairs reported by each trial."""
        return {k: list(v) for k, v in list(self._loop.curves.items())}

    def records(self) -> list[JobRecord]:
        """One immutable :class:`~asha_nb.results.JobRecord` per job (trial and rung), in job
        order."""
        return self._loop.store.all()

    def record_changes(self, cursor: int | None = None) -> tuple[int, list[JobRecord]]:
        """Records changed since ``cursor`` (``None``: all) and the next cursor: how views
        poll a running search without slowing it down."""
        return self._loop.store.changes(cursor)

    def finished_job_ids(self) -> list[int]:
        """Ids of the jobs that ended (ok, failed or stopped), in the order they ended."""
        return self._loop.finished_ids[:]

    def results(self, as_frame: bool = True, *, configs: bool = True) -> Any:
        """Results as a pandas DataFrame: one row per job (trial and rung).

        Columns: ``trial_id, rung, resource, value, status, config_<name>..., worker, start,
        end, error, bracket, job_id, resume_from, attempts``. ``status`` is a
        :class:`~asha_nb.core.JobStatus` value: ``ok``, ``failed``, ``stopped``, ``running``,
        ``retrying`` or ``interrupted``. ``value`` is ``None`` for a job without a value (NaN
        only when the objective returned NaN); ``start``/``end`` are seconds on the search's
        clock (NaN before a job started / while it runs).

        Parameters
        ----------
        as_frame
            ``False`` returns the same columns as a dict of equal-length arrays (like
            scikit-learn's ``cv_results_``), without pandas.
        configs
            Include the ``config_<name>`` columns (default).
        """
        cols = self._loop.store.columns(configs=configs)
        if not as_frame:
            return cols
        import pandas as pd

        return pd.DataFrame(cols)

    @property
    def journal_path(self) -> str | None:
        """The journal file, if the search is journaled."""
        return self._journal_path

    @property
    def executor(self) -> BaseExecutor:
        """The executor running the jobs."""
        return self._loop.executor

    @property
    def stalled(self) -> bool:
        """In virtual time: whether the search ended because nothing could run any more."""
        return self._loop.stalled

    def __repr__(self) -> str:
        snap = self._loop.snapshot()
        return (f"<{type(self).__name__} {type(self.scheduler).__name__} state="
                f"{str(self._loop.state)!r} trials={snap.n_started}>")


def _preload_view_modules() -> None:
    """In a notebook kernel, import the dashboard's libraries now, on the calling thread.

    Displaying the search imports altair (and through it narwhals) on the main thread while the
    trials already run. If a trial thread (or Dask's client thread, unpickling a scikit-learn
    checkpoint) imports the same packages at that moment, Python can raise ``_DeadlockError``
    from the import system. Importing them before any background thread starts removes the race.
    """
    import importlib

    for name in ("altair", "ipywidgets", "anywidget"):
        try:
            importlib.import_module(name)
        except ImportError:
            return
