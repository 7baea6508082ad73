"""The runtime loop: :class:`Search` drives a pure scheduler over a real executor.

Only the loop thread mutates the scheduler. Other threads (notebook cells, widgets) talk to it
through a thread-safe control queue and read immutable :class:`SearchSnapshot` objects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import importlib
import logging
import math
import numbers
import os
import queue
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_choice, check_int, check_number, check_optional_int
from ..core import ASHA, Job, Promoted, Scheduler, TrialCreated, TrialStatus
from ..errors import AshaError, InvalidParameterError, InvalidTypeError, SearchStateError
from ..executors._base import BaseExecutor, JobOutcome, JobSpec, RunningJob
from .events import (
    ControlApplied,
    IntermediateValue,
    JobFinished,
    JobStarted,
    SearchSnapshot,
    StateChanged,
)
from .journal import Journal, ReplayResult, replay

__all__ = ["Search"]

logger = logging.getLogger("asha_nb.runtime")

_TERMINAL = ("finished", "stopped", "failed")
_NONE_MSG = (
    "objective returned None; it must return a number, or (value, checkpoint) for the "
    "checkpoint form"
)


def _make_executor(spec: Any, **opts: Any) -> BaseExecutor:
    from ..executors import make_executor

    return make_executor(spec, **opts)


def _preload_view_modules() -> None:
    """In a notebook kernel, import the dashboard's libraries now, on the calling thread.

    Displaying the search imports altair (and through it narwhals) on the main thread while the
    trials already run. If a trial thread (or Dask's client thread, unpickling a scikit-learn
    checkpoint) imports the same packages at that moment, Python can raise ``_DeadlockError``
    from the import system (seen with narwhals, which scikit-learn and altair both use).
    Importing them before any background thread starts removes the race.
    """
    if "ipykernel" not in sys.modules:
        return
    for name in ("altair", "ipywidgets", "anywidget", "asha_nb.widgets.dashboard"):
        try:
            importlib.import_module(name)
        except ImportError:
            return


class _hybridmethod:
    """``Search.resume(journal, objective)`` on the class, ``search.resume()`` on an instance."""

    def __init__(self, finstance: Callable[..., Any], fclass: Callable[..., Any]):
        self.finstance = finstance
        self.fclass = fclass
        self.__doc__ = finstance.__doc__

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return types.MethodType(self.fclass, objtype)
        return types.MethodType(self.finstance, obj)


@dataclass(eq=False)
class _Flight:
    job: Job
    running: RunningJob
    worker: int
    start: float
    attempt: int
    user_stopped: bool = False
    interrupted: bool = False
    streamed: bool = False


@dataclass
class _Command:
    name: str
    args: dict[str, Any]
    future: cf.Future = field(default_factory=cf.Future)


def _describe_exception(exc: BaseException, timeout: float | None) -> str:
    name = type(exc).__name__
    if name == "ProcessExpired":
        return f"worker crashed (exit code {getattr(exc, 'exitcode', '?')})"
    if name in ("KilledWorker", "TerminatedWorkerError", "BrokenProcessPool"):
        return f"worker crashed ({name}: {exc})"
    if isinstance(exc, (TimeoutError, cf.TimeoutError)):
        return f"timed out after {timeout}s" if timeout is not None else f"timed out ({exc})"
    return f"{name}: {exc}"


class Search:
    """An ASHA (or SHA / Hyperband) search running real trials on threads, processes or Dask.

    Parameters
    ----------
    objective
        ``objective(config, resource) -> float``, ``objective(config, resource, checkpoint) ->
        (value, checkpoint)`` or ``objective(trial)`` using ``trial.report(value, resource)``,
        ``trial.should_stop()``, ``trial.save(ckpt)`` and ``trial.checkpoint``.
    space
        Search space (dict of distributions). May be ``None`` when ``scheduler`` is an instance.
    scheduler
        ``None`` (ASHA built from the keyword options below), a dict of extra ASHA keyword
        arguments, or a scheduler instance (ASHA, SHA, Hyperband, AsyncHyperband).
    executor
        ``"thread"``, ``"process"``, ``"dask"``, an executor instance or any option accepted by
        :func:`asha_nb.executors.make_executor`.
    n_workers
        Number of jobs kept in flight (integer >= 1).
    journal
        Path of an SQLite journal; every scheduler call is appended before it is acted on, so
        :meth:`Search.resume` can continue after a crash. Checkpoints go to
        ``<journal>.checkpoints/`` as pickles (load only journals you created).
    max_trials
        Number of configurations (only with ``scheduler=None`` or a dict).
    time_budget
        Seconds after which the search ends (running jobs are interrupted).
    target
        The search ends once a result reaches it (``>=`` for ``mode="max"``, ``<=`` for min).
    seed, min_resource, max_resource, reduction_factor, mode
        ASHA options (``scheduler=None`` or a dict).
    job_timeout
        Per-job wall-clock limit in seconds (enforced by executors that can kill).
    retries
        How many times a job whose objective raised is re-run before the trial fails.
    progress
        ``"auto"`` (progress bar in :meth:`run`), ``True`` or ``False``.

    Examples
    --------
    >>> from asha_nb import space
    >>> from asha_nb.runtime import Search
    >>> s = Search(lambda c, r: c["x"] * r, {"x": space.uniform(0, 1)}, max_trials=9,
    ...            max_resource=9, seed=0, progress=False).run()
    >>> s.state, s.best["resource"]
    ('finished', 9)
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
        min_resource: float = 1,
        max_resource: float = 81,
        reduction_factor: int = 3,
        mode: str = "max",
        job_timeout: float | None = None,
        retries: int = 0,
        progress: bool | str = "auto",
        _replay: ReplayResult | None = None,
        _journal_obj: Journal | None = None,
    ):
        if not callable(objective):
            raise InvalidTypeError(f"objective must be callable, got {objective!r}")
        self.objective = objective
        self.n_workers = check_int("n_workers", n_workers, low=1)
        if time_budget is not None:
            check_number("time_budget", time_budget, low=0, low_inclusive=False)
        if target is not None:
            check_number("target", target)
        if job_timeout is not None:
            check_number("job_timeout", job_timeout, low=0, low_inclusive=False)
        self.retries = check_int("retries", retries, low=0)
        if progress not in (True, False, "auto"):
            raise InvalidParameterError(f"progress must be one of True, False, 'auto'; got {progress!r}")
        self.time_budget = time_budget
        self.target = target
        self.job_timeout = job_timeout
        self.progress = progress

        if isinstance(scheduler, Scheduler):
            if max_trials is not None:
                raise InvalidParameterError(
                    "max_trials must be None when scheduler is a scheduler instance (set "
                    f"max_trials on the scheduler itself); got {max_trials!r}"
                )
            sched = scheduler
        elif scheduler is None or isinstance(scheduler, Mapping):
            if space is None:
                raise InvalidParameterError(
                    "space must be a dict of distributions when scheduler is None or a dict; got None"
                )
            kwargs: dict[str, Any] = dict(
                min_resource=min_resource, max_resource=max_resource,
                reduction_factor=reduction_factor, mode=mode,
                max_trials=check_optional_int("max_trials", max_trials, low=1), seed=seed,
            )
            kwargs.update(dict(scheduler or {}))
            sched = ASHA(space, **kwargs)
        else:
            raise InvalidTypeError(
                "scheduler must be None, a dict of ASHA options or a scheduler instance "
                f"(ASHA, SHA, Hyperband, AsyncHyperband); got {type(scheduler).__name__}"
            )
        check_choice("mode", mode, ("max", "min"))
        self.scheduler = sched
        self.mode = sched.mode
        self._executor_spec = executor
        self._executor: BaseExecutor | None = None

        # loop state
        self._lock = threading.RLock()
        self._state = "created"
        self._paused = False
        self._end_reason: str | None = None
        self._end_state = "finished"
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._done: cf.Future = cf.Future()
        self._error: BaseException | None = None
        self._inflight: dict[cf.Future, _Flight] = {}
        self._pending: deque[tuple[Job, int]] = deque()
        self._subscribers: list[Callable[[Any], None]] = []
        self._records: dict[tuple[int, int], dict[str, Any]] = {}
        self._curves: dict[int, list[tuple[float, float]]] = {}
        self._checkpoints: dict[int, tuple[float, Any]] = {}
        self._promoted_seen: set[tuple[int, int]] = set()
        self._t0 = time.time()
        self._session_start: float | None = None
        self._snap: SearchSnapshot | None = None
        self._snap_dirty = True
        self._snap_time = 0.0
        self._best_cache: dict[str, Any] | None = None

        # journal
        self._journal: Journal | None = _journal_obj
        if journal is not None and _journal_obj is None and (sched.n_trials or sched.n_running):
            raise InvalidParameterError(
                "scheduler must be fresh (no trial created yet) to be journaled, so that "
                f"Search.resume can replay it; got one with {sched.n_trials} trials"
            )
        if journal is not None and _journal_obj is None:
            self._journal = Journal(journal)
            if self._journal.has_meta():
                self._journal.close()
                raise InvalidParameterError(
                    f"journal {str(journal)!r} already holds a search; use "
                    "Search.resume(journal, objective) to continue it, or pass a new path"
                )
        if _replay is not None:
            self._t0 = _replay.meta["t0"]
            self._restore(_replay)
        elif self._journal is not None:
            self._journal.write_meta(sched, self._options(), self._t0)
        self._refresh_snapshot(force=True)

    # ------------------------------------------------------------------ options / resume
    def _options(self) -> dict[str, Any]:
        return {
            "executor": self._executor_spec if isinstance(self._executor_spec, str) else "thread",
            "n_workers": self.n_workers,
            "time_budget": self.time_budget,
            "target": self.target,
            "job_timeout": self.job_timeout,
            "retries": self.retries,
            "progress": self.progress,
        }

    def _restore(self, rr: ReplayResult) -> None:
        """Rebuild records from journal rows; queue the jobs that were in flight."""
        t0 = self._t0
        starts: dict[int, tuple[float, int]] = {}
        last_job_of_trial: dict[int, int] = {}
        for row in rr.rows:
            if row.kind == "job_started" and row.job_id is not None:
                starts[row.job_id] = (row.time - t0, int(row.text or 0))
            elif row.kind == "next_job":
                job = rr.jobs[row.job_id]  # type: ignore[index]
                last_job_of_trial[job.trial_id] = job.job_id
                self._new_record(job, worker=-1, start=row.time - t0)
                if job.is_promotion:
                    self._promoted_seen.add((job.trial_id, job.rung))
            elif row.kind in ("report", "fail") and row.job_id is not None:
                job = rr.jobs[row.job_id]
                rec = self._records[(job.trial_id, job.rung)]
                if row.job_id in starts:
                    rec["start"], rec["worker"] = starts[row.job_id]
                rec["end"] = row.time - t0
                if row.kind == "report":
                    rec["value"] = row.value
                    if rec["status"] != "stopped":
                        rec["status"] = "ok"
                else:
                    rec["status"] = "stopped" if rec["status"] == "stopped" else "failed"
                    rec["error"] = row.text
            elif row.kind == "stop_trial" and row.trial_id in last_job_of_trial:
                job = rr.jobs[last_job_of_trial[row.trial_id]]  # type: ignore[index]
                rec = self._records[(job.trial_id, job.rung)]
                if rec["status"] == "running":
                    rec["status"] = "stopped"
        for job in rr.scheduler.running_jobs():
            self._pending.append((job, 0))

    @classmethod
    def _resume_journal(
        cls, journal: str | os.PathLike[str], objective: Callable[..., Any], **overrides: Any
    ) -> Search:
        """Continue a journaled search after a crash, a kill or ``stop()``.

        The scheduler is rebuilt exactly by replaying the journaled calls on a fresh scheduler
        built from the stored class, parameters and space; jobs that were in flight are run
        again (from the trial's last checkpoint on disk when its resource matches).

        Parameters
        ----------
        journal
            Path given as ``journal=`` to the original search.
        objective
            The objective (functions are not stored in the journal).
        **overrides
            Runtime options to change: ``executor``, ``n_workers``, ``time_budget``,
            ``target``, ``job_timeout``, ``retries``, ``progress``.

        Returns
        -------
        Search
            Not started: call :meth:`run` or :meth:`start`.

        Examples
        --------
        >>> # search = Search.resume("runs/s.sqlite", objective).run()
        """
        allowed = {"executor", "n_workers", "time_budget", "target", "job_timeout", "retries", "progress"}
        bad = sorted(set(overrides) - allowed)
        if bad:
            raise InvalidParameterError(
                f"Search.resume accepts only runtime options {sorted(allowed)} as overrides; "
                f"got {bad} (scheduler options are fixed by the journal)"
            )
        if not os.path.exists(journal):
            raise InvalidParameterError(f"journal must be an existing journal file; {str(journal)!r} does not exist")
        j = Journal(journal)
        try:
            rr = replay(j)
        except BaseException:
            j.close()
            raise
        opts = dict(rr.meta["options"])
        opts.update(overrides)
        return cls(objective, scheduler=rr.scheduler, _replay=rr, _journal_obj=j, **opts)

    def _resume_paused(self) -> None:
        """Resume handing out jobs after :meth:`pause`."""
        self._control("resume", {})

    resume = _hybridmethod(_resume_paused, _resume_journal.__func__)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ running
    @property
    def state(self) -> str:
        """``"created"``, ``"running"``, ``"paused"``, ``"finished"``, ``"stopped"`` or ``"failed"``."""
        return self._state

    def start(self) -> Search:
        """Start the loop in a daemon background thread and return at once.

        Examples
        --------
        >>> # search.start(); ...; search.wait()
        """
        with self._lock:
            if self._thread is not None or self._state in _TERMINAL:
                raise SearchStateError(
                    f"search cannot be started: it was already started (state {self._state!r})"
                )
            _preload_view_modules()
            self._thread = threading.Thread(target=self._loop, name="asha_nb-search", daemon=True)
            self._thread.start()
        return self

    def run(self) -> Search:
        """Run to the end (blocking), with a progress bar unless ``progress=False``.

        Returns
        -------
        Search
            ``self``. Raises the loop's error if the loop itself crashed.
        """
        bar = None
        if self.progress:
            from .progress import ProgressBar

            bar = ProgressBar(self)
        try:
            if self._thread is None:
                self.start()
            try:
                while not self.wait(0.2):
                    pass
            except KeyboardInterrupt:
                if self._state not in _TERMINAL:
                    self.stop()
                raise
        finally:
            if bar is not None:
                bar.close()
        if self._error is not None:
            raise SearchStateError(f"the search loop failed: {self._error!r}") from self._error
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends or ``timeout`` seconds pass; return whether it ended."""
        if self._thread is None:
            return self._state in _TERMINAL
        try:
            self._done.result(timeout)
        except cf.TimeoutError:
            return False
        return True

    def __await__(self) -> Any:
        if self._thread is None and self._state not in _TERMINAL:
            self.start()
        return asyncio.wrap_future(self._done).__await__()

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the loop thread for each event; returns an unsubscriber.

        Examples
        --------
        >>> # unsubscribe = search.subscribe(print)
        """
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [c for c in self._subscribers if c is not callback]

        return unsubscribe

    def _publish(self, event: Any) -> None:
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - a subscriber never breaks the loop
                logger.exception("asha_nb: subscriber %r raised on %r", cb, event)

    def _now(self) -> float:
        return time.time() - self._t0

    def _set_state(self, state: str, reason: str = "") -> None:
        with self._lock:
            self._state = state
        self._snap_dirty = True
        if self._journal is not None:
            self._journal.append("state", text=state)
        self._publish(StateChanged(state, self._now(), reason))

    # ------------------------------------------------------------------ control
    def _control(self, name: str, args: dict[str, Any]) -> Any:
        with self._lock:
            if self._state in _TERMINAL:
                raise SearchStateError(
                    f"cannot {name}: the search is {self._state}; control calls need a created, "
                    "running or paused search"
                )
            direct = self._thread is None or threading.current_thread() is self._thread
            if not direct:
                cmd = _Command(name, args)
                self._commands.put(cmd)
        if direct:
            with self._lock:
                result = self._apply(name, args)
                self._refresh_snapshot(force=True)
            return result
        return cmd.future.result(timeout=120)

    def stop_trial(self, trial_id: int) -> None:
        """Stop a trial: it is never promoted, and its running job is stopped (killed where the
        executor can, cooperatively via ``trial.should_stop()`` otherwise)."""
        self._control("stop_trial", {"trial_id": trial_id})

    def add_trial(self, config: Mapping[str, Any]) -> int:
        """Add a configuration (missing keys are sampled); returns its trial id."""
        return self._control("add_trial", {"config": dict(config)})

    def pause(self) -> None:
        """Hand out no new jobs; running ones finish."""
        self._control("pause", {})

    def stop(self) -> None:
        """Stop the search: no new jobs, running jobs are stopped, state ``"stopped"``."""
        self._control("stop", {})
        self.wait(60)

    def set_n_workers(self, n_workers: int) -> None:
        """Change the number of jobs kept in flight."""
        self._control("set_n_workers", {"n_workers": check_int("n_workers", n_workers, low=1)})

    def _apply(self, name: str, args: dict[str, Any]) -> Any:
        """Apply a control command (loop thread, or caller before the loop starts)."""
        sched = self.scheduler
        j = self._journal
        result: Any = None
        if name == "stop_trial":
            tid = args["trial_id"]
            if isinstance(tid, bool) or not isinstance(tid, numbers.Integral):
                raise InvalidTypeError(f"trial_id must be an integer, got {tid!r}")
            if not 0 <= tid < sched.n_trials:
                raise InvalidParameterError(
                    f"trial_id must be an existing trial id between 0 and {sched.n_trials - 1}, got {tid}"
                    if sched.n_trials
                    else f"trial_id {tid} does not exist: no trial has been created yet"
                )
            tid = int(tid)
            if j is not None:
                j.append("stop_trial", trial_id=tid)
            events = sched.stop_trial(tid)
            for fl in self._inflight.values():
                if fl.job.trial_id == tid and not fl.user_stopped:
                    fl.user_stopped = True
                    self._record_for(fl.job)["status"] = "stopped"
                    assert self._executor is not None
                    self._executor.stop_job(fl.running)
            self._pending = deque((jb, a) for jb, a in self._pending if jb.trial_id != tid)
            for ev in events:
                self._publish(ev)
        elif name == "add_trial":
            expected = sched.n_trials
            if j is not None:
                j.append("add_trial", trial_id=expected, data=dict(args["config"]))
            result = sched.add_trial(args["config"])
            self._publish(sched.created_event(result))
        elif name == "pause":
            self._paused = True
            if self._state == "running":
                self._set_state("paused")
        elif name == "resume":
            self._paused = False
            if self._state == "paused":
                self._set_state("running" if self._thread is not None else "created")
        elif name == "stop":
            if self._thread is None:
                self._set_state("stopped", "stop()")
                self._done.set_result(self)
            else:
                self._end_reason, self._end_state = "stop()", "stopped"
        elif name == "set_n_workers":
            self.n_workers = args["n_workers"]
            if self._executor is not None:
                self._executor.resize(self.n_workers)
        if j is not None and name in ("pause", "resume", "stop", "set_n_workers"):
            j.append("control", text=name, data=dict(args))
        self._publish(ControlApplied(name, dict(args), self._now(), result))
        self._snap_dirty = True
        return result

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd.name == "_trial_snapshots":  # a read, not a control command
                cmd.future.set_result(self.scheduler.snapshot().trials)
                continue
            try:
                res = self._apply(cmd.name, cmd.args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                cmd.future.set_exception(exc)
            else:
                cmd.future.set_result(res)
            self._refresh_snapshot(force=True)

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        try:
            self._executor = _make_executor(self._executor_spec)
            self._executor.start(self.objective, self.n_workers)
            self._session_start = time.monotonic()
            self._set_state("paused" if self._paused else "running")
            while True:
                self._drain_commands()
                self._check_end()
                if self._end_reason is not None:
                    break
                if not self._paused:
                    self._fill()
                if not self._inflight:
                    if not self._pending and self.scheduler.is_finished:
                        self._end_reason, self._end_state = "scheduler finished", "finished"
                        continue
                    time.sleep(0.02)
                    self._refresh_snapshot()
                    continue
                done, _ = cf.wait(list(self._inflight), timeout=0.05, return_when=cf.FIRST_COMPLETED)
                self._drain_reports()
                for fut in done:
                    self._complete(fut)
                self._refresh_snapshot()
            self._finish(self._end_state, self._end_reason or "")
        except BaseException as exc:  # noqa: BLE001 - the loop reports its own crash
            logger.exception("asha_nb: search loop failed")
            self._error = exc
            try:
                self._finish("failed", f"{type(exc).__name__}: {exc}")
            except BaseException:  # noqa: BLE001
                logger.exception("asha_nb: cleanup after loop failure failed")
                with self._lock:
                    self._state = "failed"
        finally:
            if not self._done.done():
                self._done.set_result(self)

    def _finish(self, state: str, reason: str) -> None:
        for fl in list(self._inflight.values()):
            fl.interrupted = True
            rec = self._record_for(fl.job)
            if rec["status"] == "running":
                rec["status"] = "interrupted"
            if self._executor is not None:
                try:
                    self._executor.stop_job(fl.running)
                except Exception:  # noqa: BLE001
                    logger.exception("asha_nb: stop_job failed")
        self._inflight.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        with self._lock:
            self._state = state
            while True:  # commands that raced with the end
                try:
                    cmd = self._commands.get_nowait()
                except queue.Empty:
                    break
                cmd.future.set_exception(
                    SearchStateError(f"cannot {cmd.name}: the search is {state}")
                )
        if self._journal is not None:
            self._journal.append("state", text=state)
            self._journal.close()
        self._refresh_snapshot(force=True)
        self._publish(StateChanged(state, self._now(), reason))

    def _check_end(self) -> None:
        if self._end_reason is not None:
            return
        if self.time_budget is not None and self._session_start is not None:
            if time.monotonic() - self._session_start >= self.time_budget:
                self._end_reason, self._end_state = "time budget spent", "finished"

    def _fill(self) -> None:
        sched = self.scheduler
        while len(self._inflight) < self.n_workers and self._end_reason is None:
            if self._pending:
                job, attempt = self._pending.popleft()
                if self._journal is not None:
                    self._journal.append("retry", job_id=job.job_id, trial_id=job.trial_id, text=str(attempt))
                self._submit(job, attempt)
                continue
            n_before = sched.n_trials
            job = sched.next_job()
            if job is None:
                return
            if self._journal is not None:
                self._journal.append("next_job", job_id=job.job_id, trial_id=job.trial_id,
                                     rung=job.rung, value=float(job.resource), data=dict(job.config))
            for tid in range(n_before, sched.n_trials):
                self._publish(sched.created_event(tid))
            if job.is_promotion and (job.trial_id, job.rung) not in self._promoted_seen:
                self._promoted_seen.add((job.trial_id, job.rung))
                self._publish(Promoted(job.trial_id, job.rung - 1, job.rung, job.resource, job.bracket))
            self._new_record(job, worker=-1, start=self._now())
            self._submit(job, 0)

    def _checkpoint_for(self, job: Job) -> Any:
        if job.resume_from <= 0:
            return None
        tid = job.trial_id
        if tid not in self._checkpoints and self._journal is not None:
            loaded = self._journal.load_checkpoint(tid)
            if loaded is not None:
                self._checkpoints[tid] = loaded
        entry = self._checkpoints.get(tid)
        if entry is None or entry[0] != job.resume_from:
            return None
        return entry[1]

    def _submit(self, job: Job, attempt: int) -> None:
        assert self._executor is not None
        used = {fl.worker for fl in self._inflight.values()}
        worker = next(i for i in range(len(used) + 1) if i not in used)
        spec = JobSpec(job.job_id, job.trial_id, dict(job.config), job.rung, job.resource,
                       job.resume_from, self._checkpoint_for(job), self.job_timeout)
        if self._journal is not None:
            self._journal.append("job_started", job_id=job.job_id, trial_id=job.trial_id, text=str(worker))
        now = self._now()
        running = self._executor.submit(spec)
        self._inflight[running.future] = _Flight(job, running, worker, now, attempt)
        rec = self._record_for(job)
        rec.update(status="running", worker=worker, start=now, end=None, error=None, value=None)
        self._snap_dirty = True
        self._publish(JobStarted(job.job_id, job.trial_id, job.rung, job.resource, job.resume_from,
                                 worker, now, job.bracket))

    def _drain_reports(self) -> None:
        assert self._executor is not None
        for rep in self._executor.drain_reports():
            self._curves.setdefault(rep.trial_id, []).append((rep.resource, rep.value))
            for fl in self._inflight.values():
                if fl.job.job_id == rep.job_id:
                    fl.streamed = True
            self._publish(IntermediateValue(rep.job_id, rep.trial_id, rep.resource, rep.value, self._now()))

    def _complete(self, fut: cf.Future) -> None:
        fl = self._inflight.pop(fut)
        job = fl.job
        sched = self.scheduler
        j = self._journal
        outcome: JobOutcome | None = None
        exc: BaseException | None = None
        try:
            outcome = fut.result()
        except BaseException as e:  # noqa: BLE001
            exc = e
        now = self._now()
        rec = self._record_for(job)
        rec["end"] = now
        if outcome is not None and outcome.intermediate and not fl.streamed:
            for r, v in outcome.intermediate:
                self._curves.setdefault(job.trial_id, []).append((r, v))
                self._publish(IntermediateValue(job.job_id, job.trial_id, r, v, now))
        value: float | None = None
        error: str | None = None
        if exc is not None:
            error = _describe_exception(exc, self.job_timeout)
        elif outcome is not None and outcome.error is not None:
            error = outcome.error
        else:
            raw = outcome.value if outcome is not None else None
            if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
                if raw is None:
                    error = _NONE_MSG
                else:
                    error = (f"objective returned {raw!r} ({type(raw).__name__}); it must return a "
                             "number, or (value, checkpoint) for the checkpoint form")
            else:
                value = float(raw)

        if fl.user_stopped:
            if value is not None and outcome is not None and not outcome.stopped:
                if j is not None:
                    j.append("report", job_id=job.job_id, trial_id=job.trial_id, value=value)
                events = sched.report(job, value)
                rec["value"] = value
            else:
                if j is not None:
                    j.append("fail", job_id=job.job_id, trial_id=job.trial_id, text="stopped by user")
                events = sched.fail(job, "stopped by user")
            self._finish_job(fl, rec, "stopped", rec.get("value"), None, now, events)
            return

        if error is not None:
            retryable = isinstance(exc, BaseException) and "crashed" in error or (
                outcome is not None and outcome.error is not None)
            if retryable and fl.attempt < self.retries:
                self._pending.appendleft((job, fl.attempt + 1))
                rec["status"] = "retrying"
                rec["error"] = error
                self._publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource, fl.worker,
                                          fl.start, now, "failed", None, error, job.bracket))
                return
            if isinstance(exc, cf.CancelledError):
                error = "cancelled"
            if j is not None:
                j.append("fail", job_id=job.job_id, trial_id=job.trial_id, text=error)
            events = sched.fail(job, error)
            self._finish_job(fl, rec, "failed", None, error, now, events)
            return

        assert value is not None and outcome is not None
        if outcome.checkpoint is not None:
            self._checkpoints[job.trial_id] = (job.resource, outcome.checkpoint)
            if j is not None:
                j.save_checkpoint(job.trial_id, job.resource, outcome.checkpoint)
        if j is not None:
            j.append("report", job_id=job.job_id, trial_id=job.trial_id, value=value)
        events = sched.report(job, value)
        note = None if math.isfinite(value) else f"objective returned {value!r}"
        self._finish_job(fl, rec, "ok", value, note, now, events)
        if self.target is not None and math.isfinite(value):
            if (value >= self.target) if self.mode == "max" else (value <= self.target):
                self._end_reason, self._end_state = "target reached", "finished"

    def _finish_job(self, fl: _Flight, rec: dict[str, Any], status: str, value: float | None,
                    error: str | None, now: float, events: list[Any]) -> None:
        job = fl.job
        rec.update(status=status, value=value, error=error, end=now)
        self._snap_dirty = True
        self._best_cache = None
        self._publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource, fl.worker,
                                  fl.start, now, status, value, error, job.bracket))
        for ev in events:
            if isinstance(ev, Promoted):
                self._promoted_seen.add((ev.trial_id, ev.to_rung))
            self._publish(ev)

    # ------------------------------------------------------------------ records / snapshots
    def _new_record(self, job: Job, worker: int, start: float) -> dict[str, Any]:
        rec = {
            "trial_id": job.trial_id, "rung": job.rung, "resource": job.resource,
            "value": None, "status": "running", "config": dict(job.config), "worker": worker,
            "start": start, "end": None, "error": None, "bracket": job.bracket, "job_id": job.job_id,
        }
        with self._lock:
            self._records[(job.trial_id, job.rung)] = rec
        return rec

    def _record_for(self, job: Job) -> dict[str, Any]:
        rec = self._records.get((job.trial_id, job.rung))
        if rec is None or rec["job_id"] != job.job_id:
            rec = self._new_record(job, -1, self._now())
        return rec

    def _refresh_snapshot(self, force: bool = False) -> None:
        if not (force or self._snap_dirty):
            return
        now = time.monotonic()
        if not force and now - self._snap_time < 0.05:
            return
        self._snap_time = now
        self._snap_dirty = False
        sched = self.scheduler
        # Cheap per refresh: status counts and rung rows, no per-trial copies (this runs on the
        # loop thread up to 20 times a second). Only user-added trials can wait unstarted.
        counts = sched.status_counts()
        started = sched.n_trials - sched.n_queued
        best = sched.best()
        best_cfg = None if best is None else dict(sched.trial(best[0]).config)
        snap = SearchSnapshot(
            state=self._state,
            elapsed=self._now() if self._thread is not None else 0.0,
            n_workers=self.n_workers,
            busy_workers=len(self._inflight),
            n_started=started,
            n_finished=counts[TrialStatus.PAUSED] + counts[TrialStatus.COMPLETED],
            n_stopped=counts[TrialStatus.STOPPED],
            n_failed=counts[TrialStatus.FAILED],
            best_value=None if best is None else best[1],
            best_trial=None if best is None else best[0],
            best_config=best_cfg,
            best_resource=None if best is None else best[2],
            rungs=sched.rung_snapshots(),
            mode=self.mode,
        )
        with self._lock:
            self._snap = snap

    def snapshot(self) -> SearchSnapshot:
        """An immutable picture of the search (safe from any thread; refreshed by the loop at
        most every 50 ms and after every control command)."""
        if self._thread is None or threading.current_thread() is self._thread:
            self._refresh_snapshot(force=True)
        assert self._snap is not None
        return self._snap

    @property
    def best(self) -> dict[str, Any] | None:
        """``dict(trial_id, value, resource, config)`` of the best result at the highest
        resource reached, or ``None``."""
        snap = self.snapshot()
        if snap.best_trial is None:
            return None
        return {"trial_id": snap.best_trial, "value": snap.best_value,
                "resource": snap.best_resource, "config": dict(snap.best_config or {})}

    @property
    def trials(self) -> Any:
        """One row per trial: status, rung reached, last value, config columns (a DataFrame)."""
        import pandas as pd

        rows = []
        for t in self._trial_snapshots():
            row = {"trial_id": t.trial_id, "status": str(t.status), "rung": t.rung,
                   "bracket": t.bracket, "value": t.values[-1][1] if t.values else None,
                   "error": t.error}
            row.update({f"config_{k}": v for k, v in t.config.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def _trial_snapshots(self) -> tuple[Any, ...]:
        """Per-trial snapshots, built by the loop thread while it runs (it alone mutates the
        scheduler), directly otherwise."""
        with self._lock:
            live = (self._thread is not None and self._state not in _TERMINAL
                    and threading.current_thread() is not self._thread)
            if live:
                cmd = _Command("_trial_snapshots", {})
                self._commands.put(cmd)
        if live:
            try:
                return cmd.future.result(timeout=120)
            except SearchStateError:  # the loop ended meanwhile: nothing mutates any more
                pass
        return self.scheduler.snapshot().trials

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """Intermediate ``(resource, value)`` pairs reported by each trial."""
        with self._lock:
            return {k: list(v) for k, v in self._curves.items()}

    def records(self) -> list[dict[str, Any]]:
        """One dict per trial and rung (copies), in job order."""
        with self._lock:
            recs = [dict(r, config=dict(r["config"])) for r in self._records.values()]
        return sorted(recs, key=lambda r: r["job_id"])

    def results(self) -> Any:
        """Results as a pandas DataFrame: one row per trial and rung.

        Columns: ``trial_id, rung, resource, value, status, config_<name>..., worker, start,
        end, error, bracket, job_id``. ``status`` is ``ok``, ``failed``, ``stopped``,
        ``running``, ``retrying`` or ``interrupted``.
        """
        from ..results import records_to_dataframe

        return records_to_dataframe(self.records())

    def dashboard(self, **kwargs: Any) -> Any:
        """The live dashboard of this search (an ipywidgets view, created once).

        Needs the ``widgets`` extra (``pip install "asha_nb[widgets]"``). Displaying a search in
        a notebook (last expression of a cell) shows the same dashboard; where no widget front
        end exists (nbconvert, a terminal) a static HTML summary is shown instead.
        """
        from ..widgets import Dashboard

        if getattr(self, "_dashboard", None) is None:
            self._dashboard = Dashboard(self, **kwargs)
        return self._dashboard

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            return self.dashboard()._repr_mimebundle_(include=include, exclude=exclude)
        except ImportError:  # the widgets extra is not installed
            return {"text/plain": repr(self)}

    def __repr__(self) -> str:
        snap = self._snap
        n = 0 if snap is None else snap.n_started
        return f"<Search {type(self.scheduler).__name__} state={self._state!r} trials={n}>"


# keep the names importable for type checkers
_ = (AshaError, TrialCreated)
