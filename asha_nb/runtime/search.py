"""The :class:`Search` facade: construction, life cycle and the public API of a search.

The work is done by the loop (:mod:`asha_nb.runtime._loop`); control calls become commands
(:mod:`asha_nb.runtime._commands`); records live in :mod:`asha_nb.runtime._records`; a journaled
search is rebuilt by :mod:`asha_nb.runtime._restore`. Only the thread driving the loop
mutates the scheduler: other threads post requests and read immutable snapshots and records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from .._validation import check_number
from ..clock import Clock, VirtualClock, WallClock
from ..core import Scheduler
from ..errors import InvalidParameterError, SearchStateError, SearchStateWarning
from ..executors import make_executor
from ._drivers import drive
from ._encoding import check_space_values, job_pickler
from ._loop import Loop, LoopMode
from ._options import (
    ScheduledControls,
    build_scheduler,
    check_objective_callable,
    check_runtime_options,
    objective_fingerprint,
)
from ._requests import Command, Request
from ._restore import restore_loop
from ._search_control import SearchControl
from ._search_read import SearchReading
from .events import SearchState
from .journal import Journal

__all__ = ["Search", "ScheduledControls", "objective_fingerprint"]

logger = logging.getLogger("asha_nb.runtime")

_LIVE: weakref.WeakSet[Search] = weakref.WeakSet()
_EXIT_HOOKED = False


def _end_live_searches() -> None:
    """At interpreter exit: end running searches quietly (before thread pools refuse work)."""
    for s in list(_LIVE):
        s._end_at_exit()


def _forget_live_searches() -> None:
    """In a forked child (a fork-context ``multiprocessing`` pool inside an objective, a
    ``ProcessPoolExecutor`` as executor): the parent's searches are not the child's. Their
    loop threads do not exist there, so the child must not wait for them at its exit."""
    _LIVE.clear()


if hasattr(os, "register_at_fork"):  # not on Windows (no fork there)
    os.register_at_fork(after_in_child=_forget_live_searches)


class Search(SearchControl, SearchReading):
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
        check_objective_callable(objective)
        opts = check_runtime_options(
            {"n_workers": n_workers, "time_budget": time_budget, "target": target,
             "job_timeout": job_timeout, "retries": retries, "max_jobs": max_jobs,
             "progress": progress})
        n_workers, retries, max_jobs = opts["n_workers"], opts["retries"], opts["max_jobs"]
        sched = build_scheduler(space, scheduler, max_trials=max_trials, seed=seed,
                                min_resource=min_resource, max_resource=max_resource,
                                reduction_factor=reduction_factor, mode=mode)
        ex = make_executor(executor)
        ex.check_objective(objective)
        # Values the journal or the executor's workers could not carry: refused now, by key.
        check_space_values(sched.space, journal=journal is not None, pickler=job_pickler(ex))
        ex.check_n_workers(n_workers)
        own_clock = getattr(ex, "clock", None) if getattr(ex, "virtual", False) else None
        clock: Clock = own_clock if isinstance(own_clock, VirtualClock) else WallClock()
        j: Journal | None = None
        if journal is not None:
            if sched.n_trials or sched.n_running:
                raise InvalidParameterError(
                    "scheduler must be fresh (no trial created yet) to be journaled, so that "
                    f"Search.from_journal can replay it; got one with {sched.n_trials} trials"
                )
            j = Journal.create(journal)  # checks the path, takes the journal's lock
        try:
            loop = Loop(sched, objective, ex, clock, n_workers=n_workers, journal=j,
                        time_budget=time_budget, target=target, job_timeout=job_timeout,
                        retries=retries, max_jobs=max_jobs)
            self._adopt(loop, objective, executor, progress, restored=False)
            if j is not None:
                j.write_meta(sched, self._options(), getattr(clock, "origin", 0.0),
                             virtual=clock.virtual,
                             fingerprint=objective_fingerprint(objective))
        except BaseException:
            if j is not None:
                j.close()  # never leave the journal locked by a search that was not built
            raise

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
            "target": loop.best.target,
            "job_timeout": loop.timeouts.job_timeout,
            "retries": loop.retries.retries,
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
            ``target``, ``job_timeout``, ``retries``, ``max_jobs``, ``progress``; checked
            exactly as :class:`Search` checks them.

        Raises
        ------
        InvalidParameterError, InvalidTypeError
            An override out of its range, an objective that is not callable (or not the one
            the journal was written with), ``allow_other_objective`` not a bool.
        JournalError, JournalLockedError, JournalMismatchError
            The path is not a journal, another search writes it, or it does not replay.

        Returns
        -------
        Search
            Not started: call :meth:`run` or :meth:`start`.
        """
        loop, opts = restore_loop(journal, objective, overrides,
                                  allow_other_objective=allow_other_objective)
        self = cls.__new__(cls)
        self._adopt(loop, objective, opts.get("executor", "thread"), opts.get("progress", "auto"),
                    restored=True)
        return self

    def _adopt(self, loop: Loop, objective: Callable[..., Any], executor_spec: Any,
               progress: bool | str, *, restored: bool) -> None:
        """Become the facade of ``loop`` (a new search, or one rebuilt from its journal)."""
        self.objective = objective
        self.progress = progress
        self.scheduler = loop.scheduler
        self.mode = loop.scheduler.mode
        self._executor_spec = executor_spec
        self._restored = restored
        self._journal_path = None if loop.journal is None else os.fspath(loop.journal.path)
        self._loop = loop
        self._thread: threading.Thread | None = None
        self._stepping = False  # a virtual search between two run(until=...) calls
        self._done: cf.Future[Search] = cf.Future()
        self._dashboard: Any = None

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
        state = loop.state
        if state is SearchState.STOPPED and self._thread is None:
            raise SearchStateError(
                f"cannot {what}: the search was stopped before it started; build a new "
                "Search (or Search.from_journal to continue a journaled one)")
        if state.is_terminal:
            raise SearchStateError(
                f"cannot {what}: the search already ran and is {state} "
                f"({loop.reason or 'no reason recorded'}); build a new Search, or "
                "Search.from_journal(journal, objective) to continue a journaled one")
        if self._thread is not None:
            raise SearchStateError(
                f"cannot {what}: the search is already running (start() was called; it is "
                f"{'starting' if state is SearchState.CREATED else state}); use wait() (or "
                "await search) to wait for its end, or run() to wait with a progress bar")

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
        if "ipykernel" in sys.modules:
            _preload_view_modules()  # before the clock starts: it takes a second
        self._begin()
        loop = self._loop
        if loop.virtual:
            loop.run_mode = LoopMode.VIRTUAL_BACKGROUND
        self._thread = threading.Thread(target=self._run_loop, name="asha_nb-search",
                                        daemon=True)
        self._thread.start()
        return self

    def _run_loop(self) -> None:
        try:
            drive(self._loop)
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
            ``self``. Raises the loop's error if the loop itself crashed. On a search that
            already ended (finished, stopped, failed) ``run()`` does nothing: it returns the
            search unchanged with a :class:`~asha_nb.errors.SearchStateWarning` saying how it
            ended. After :meth:`start`, ``run()`` waits for the end.
        """
        loop = self._loop
        if loop.state.is_terminal and not self._stepping:
            how = ("stopped before it started" if self._thread is None
                   else f"{loop.state}: {loop.reason or 'no reason recorded'}")
            warnings.warn(
                f"run(): the search already ended ({how}); it is returned unchanged. Build a "
                "new Search, or Search.from_journal(journal, objective) to continue a "
                "journaled one", SearchStateWarning, stacklevel=2)
            if loop.error is not None:
                raise SearchStateError(f"the search loop failed: {loop.error!r}") from loop.error
            return self
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
                ended = drive(loop, until)
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
        """Call ``callback(event)`` for each event; returns an unsubscriber.

        The callback runs on the thread driving the loop at that moment (the search's loop
        thread, or a thread worker completing its own job), never on two threads at once.

        Events are the core's (``TrialCreated``, ``Promoted``, ``ResultRecorded``, ``Stopped``,
        ``TrialCompleted``, ``TrialFailed``) and the runtime's (``JobStarted``,
        ``JobFinished``, ``IntermediateValue``, ``StateChanged``, ``ControlApplied``). A
        callback must be quick and must not block on the search.
        """
        return self._loop.subscribe(callback)

    def stop(self) -> None:
        """Stop the search: no new jobs, running jobs are stopped, state ``"stopped"``.

        On a search that already ended (or ends while the call is on its way) ``stop()`` does
        nothing: the search keeps the state and reason it ended with.
        """
        loop = self._loop
        if self._thread is None:
            with loop.lock:
                if loop.state.is_terminal:
                    return
                reason = "stop()" if self._stepping else "stop() before start"
                loop.request_end(reason, stopped=True)
                loop.finish(SearchState.STOPPED, reason)
            self._stepping = False
            if not self._done.done():
                self._done.set_result(self)
            return
        try:
            self._control(Command.STOP, {})
        except SearchStateError:
            if not loop.state.is_terminal:
                raise
            return  # it ended on its own first: nothing to stop
        self.wait(60)

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
