"""The :class:`Search` facade: the public API of a search, in one class.

The work is done by the loop (:mod:`asha_nb.runtime._loop`) and its collaborators; how it runs
(on the caller's thread or its own) is :mod:`asha_nb.runtime._session`; control calls go
through :mod:`asha_nb.runtime._search_control`; tables are computed by
:mod:`asha_nb.runtime._search_read`; a journaled search is rebuilt by
:mod:`asha_nb.runtime._restore`. Only the thread driving the loop mutates the scheduler: other
threads post requests and read immutable snapshots and records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
from collections.abc import Callable, Mapping
from typing import Any

from .._validation import check_number
from ..core import Scheduler
from ..executors import BaseExecutor
from ..results import JobRecord
from ._loop import Loop
from ._options import ScheduledControls, new_loop, objective_fingerprint, search_options
from ._requests import Command
from ._restore import restore_loop
from ._search_control import control, schedule
from ._search_read import read_snapshot, results, trial_columns, trials_frame
from ._session import Session
from .events import SearchSnapshot, SearchState

__all__ = ["Search", "ScheduledControls", "objective_fingerprint"]


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
        loop = new_loop(objective, space, scheduler=scheduler, executor=executor,
                        n_workers=n_workers, journal=journal, max_trials=max_trials,
                        time_budget=time_budget, target=target, seed=seed,
                        min_resource=min_resource, max_resource=max_resource,
                        reduction_factor=reduction_factor, mode=mode, job_timeout=job_timeout,
                        retries=retries, max_jobs=max_jobs, progress=progress)
        self._adopt(loop, objective, executor, progress, restored=False)

    def _options(self) -> dict[str, Any]:
        return search_options(self._loop, self._executor_spec, self.progress)

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
        self._journal_path = None if loop.journal is None else os.fspath(loop.journal.path)
        self._loop = loop
        self._session = Session(loop, self, restored=restored)
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

    def start(self) -> Search:
        """Start the loop in a background thread and return at once.

        A search in virtual time also runs in the background (steer it from other threads, or
        schedule calls with :meth:`at`); :meth:`run` runs it on the calling thread instead.
        """
        self._session.start()
        return self

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
        bar = None
        if self.progress is True or (self.progress == "auto" and not self._loop.virtual):
            from .progress import ProgressBar

            def bar() -> Any:
                return ProgressBar(self)
        self._session.run(until, bar, self.stop)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends or ``timeout`` seconds pass; return whether it ended."""
        return self._session.wait(timeout)

    def __await__(self) -> Any:
        if self._session.thread is None and not self._loop.state.is_terminal:
            self.start()
        return asyncio.wrap_future(self._session.done).__await__()

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
        self._session.stop(self._control)

    # ------------------------------------------------------------------ control
    def _control(self, command: Command, args: Mapping[str, Any]) -> Any:
        return control(self._loop, self._session.direct(), command, args)

    def _schedule(self, command: Command, args: Mapping[str, Any], at: float) -> cf.Future[Any]:
        return schedule(self._loop, self._session.direct(), command, args, at)

    def at(self, time: float) -> ScheduledControls:
        """Control calls applied when the search's clock reaches ``time`` (seconds since start).

        Works in real time and in virtual time (there it is how a simulated search is steered,
        exactly and reproducibly). A call scheduled after the search ended fails with
        :class:`~asha_nb.errors.SearchStateError` in its future.

        Examples
        --------
        >>> from asha_nb import space
        >>> from asha_nb.executors import SimulatedExecutor
        >>> from asha_nb.runtime import Search
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

    def set_n_workers(self, n_workers: int) -> None:
        """Change the number of jobs kept in flight."""
        self._control(Command.SET_N_WORKERS, {"n_workers": n_workers})

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> SearchSnapshot:
        """An immutable picture of the search (safe from any thread; the loop refreshes it at
        most every 50 ms while running, and after every control call)."""
        return read_snapshot(self._loop, self._session.direct())

    @property
    def best(self) -> dict[str, Any] | None:
        """``dict(trial_id, value, resource, config)`` of the best result at the highest
        resource reached, or ``None``."""
        snap = self.snapshot()
        if snap.best_trial is None:
            return None
        return {"trial_id": snap.best_trial, "value": snap.best_value,
                "resource": snap.best_resource, "config": dict(snap.best_config or {})}

    def checkpoints(self) -> dict[int, tuple[float, Any]]:
        """The latest checkpoint of each trial the search holds in memory.

        Returns
        -------
        dict
            ``{trial_id: (resource, checkpoint)}``: the checkpoint the trial's last job returned
            (checkpoint or trial form) and the resource it was trained to. Trials whose
            objective returned none, or whose checkpoint was dropped (see the job's ``note``
            in :meth:`results`), are missing. A resumed search holds the checkpoints of the
            trials it promoted since; the others are in ``<journal>.checkpoints/``.
        """
        loop = self._loop
        with loop.lock:
            return dict(loop.endings.checkpoints)

    def best_history(self, *, at_max_resource: bool = False) -> list[tuple[float, int, float, float]]:
        """``(time, trial_id, value, resource)`` each time the best value so far improved.

        By default the best finite value at any rung (it never gets worse); with
        ``at_max_resource=True``, the incumbent :attr:`best` (best at the highest resource
        reached), each time it changed.
        """
        best = self._loop.best
        return list(best.incumbents if at_max_resource else best.best_any)

    @property
    def trials(self) -> Any:
        """One row per trial: status (a :class:`~asha_nb.core.TrialStatus` value), rung reached,
        last value, error, config columns (a DataFrame)."""
        return trials_frame(trial_columns(self._loop, self._session.direct()), self.scheduler)

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """Intermediate ``(resource, value)`` pairs reported by each trial."""
        return {k: list(v) for k, v in list(self._loop.endings.curves.items())}

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
        return self._loop.endings.finished_ids[:]

    def results(self, as_frame: bool = True, *, configs: bool = True) -> Any:
        """Results as a pandas DataFrame: one row per job (trial and rung).

        Columns: ``trial_id, rung, resource, value, status, config_<name>..., worker, start,
        end, error, bracket, job_id, resume_from, attempts, started``. ``status`` is a
        :class:`~asha_nb.core.JobStatus` value: ``ok``, ``failed``, ``stopped``, ``running``,
        ``retrying`` or ``interrupted``. ``value`` is ``None`` for a job without a value (NaN
        only when the objective returned NaN). Times are seconds on the search's clock:
        ``start`` is when the job was handed to a worker slot (submitted to the executor),
        ``started`` when its objective really began in the worker (later than ``start`` when
        the job waited in the executor's own queue, e.g. a pool with fewer slots than
        ``n_workers``; known once the job ended or timed out, NaN before or where the executor
        cannot tell), ``end`` when its outcome came back (NaN while it runs). A job timeout
        counts from ``started``.

        Parameters
        ----------
        as_frame
            ``False`` returns the same columns as a dict of equal-length arrays (like
            scikit-learn's ``cv_results_``), without pandas.
        configs
            Include the ``config_<name>`` columns (default).
        """
        return results(self._loop, as_frame, configs)

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
