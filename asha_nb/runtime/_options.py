"""How a ``Search`` is configured: its scheduler from keyword options, its objective's
fingerprint, and the control calls scheduled at a given time (``search.at(t)``)."""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Mapping
from typing import Any

from .._validation import check_choice, check_int, check_number, check_optional_int
from ..clock import Clock, VirtualClock, WallClock
from ..core import ASHA, Scheduler
from ..errors import InvalidParameterError, InvalidTypeError
from ..executors import make_executor
from ._encoding import check_space_values, job_pickler
from ._loop import Loop
from ._requests import Command
from .journal import Journal

__all__ = ["ASHA_DEFAULTS", "RUNTIME_OPTIONS", "build_scheduler", "check_objective_callable",
           "check_runtime_options", "objective_fingerprint", "same_objective",
           "ScheduledControls", "new_loop", "search_options"]

#: ASHA options a ``Search`` accepts as keywords, with the values used when none is given.
ASHA_DEFAULTS: dict[str, Any] = {"min_resource": 1, "max_resource": 81, "reduction_factor": 3,
                                 "mode": "max"}
#: Options a resumed search may change (``Search.from_journal(..., **overrides)``).
RUNTIME_OPTIONS = ("executor", "n_workers", "time_budget", "target", "job_timeout", "retries",
                   "progress", "max_jobs")


def check_objective_callable(objective: Any) -> None:
    """Refuse an objective that is not callable (``Search()`` and ``Search.from_journal``)."""
    if not callable(objective):
        raise InvalidTypeError(
            f"objective must be a callable such as objective(config, resource) -> value, "
            f"got {type(objective).__name__}: {objective!r:.80}"
        )


def check_runtime_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check the runtime options of a search and return them normalised.

    The one validation of ``Search(...)`` and of ``Search.from_journal(..., **overrides)``:
    ``n_workers`` (integer >= 1), ``time_budget`` and ``job_timeout`` (``None`` or a finite
    number > 0), ``target`` (``None`` or a finite number), ``retries`` (integer >= 0),
    ``max_jobs`` (``None`` or an integer >= 1), ``progress`` (``True``, ``False`` or
    ``"auto"``). Options not given are left out; ``executor`` is checked when it is built.

    Raises
    ------
    InvalidParameterError, InvalidTypeError
        Naming the option, the allowed range and the value.
    """
    out = dict(options)
    if "n_workers" in out:
        out["n_workers"] = check_int("n_workers", out["n_workers"], low=1)
    for name in ("time_budget", "job_timeout"):
        if out.get(name) is not None:
            check_number(name, out[name], low=0, low_inclusive=False)
    if out.get("target") is not None:
        check_number("target", out["target"])
    if "retries" in out:
        out["retries"] = check_int("retries", out["retries"], low=0)
    if "max_jobs" in out:
        out["max_jobs"] = check_optional_int("max_jobs", out["max_jobs"], low=1)
    progress = out.get("progress", "auto")
    if not (progress is True or progress is False
            or (isinstance(progress, str) and progress == "auto")):
        raise InvalidParameterError(
            f"progress must be one of True, False, 'auto'; got {out['progress']!r}")
    return out


def objective_fingerprint(objective: Callable[..., Any]) -> dict[str, str]:
    """Qualified name and (where the source is available) a hash of an objective's source.

    A ``functools.partial`` is its function plus its bound arguments; a callable instance is its
    class. ``Search.from_journal`` compares fingerprints: the names must match (a module run as
    ``__main__`` matches the same module imported by name) and, where both have one, the
    source hashes.
    """
    import functools
    import hashlib
    import inspect

    extra = ""
    fn: Any = objective
    while isinstance(fn, functools.partial):
        extra += repr((fn.args, sorted(fn.keywords.items())))
        fn = fn.func
    fn = getattr(fn, "__func__", fn)
    if not (inspect.isfunction(fn) or inspect.isbuiltin(fn) or inspect.isclass(fn)):
        fn = type(fn)  # a callable instance: its class's code
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        digest = ""
    else:
        digest = hashlib.sha256((source + extra).encode()).hexdigest()[:16]
    return {"name": f"{module}.{name}", "qualname": name, "module": module,
            "source_sha256": digest}


def same_objective(stored: dict[str, str], now: dict[str, str]) -> bool:
    """Whether two fingerprints name the same objective (see :func:`objective_fingerprint`)."""
    if stored.get("source_sha256") and now.get("source_sha256"):
        if stored["source_sha256"] != now["source_sha256"]:
            return False
    if "__main__" in (stored.get("module"), now.get("module")) and stored.get("qualname"):
        # A script run as __main__, resumed from a module importing it (or the reverse).
        return stored.get("qualname") == now.get("qualname")
    return stored.get("name") == now.get("name")


def build_scheduler(space: Mapping[str, Any] | None,
                    scheduler: Scheduler | Mapping[str, Any] | None, *,
                    max_trials: int | None, seed: int | None, **asha: Any) -> Scheduler:
    """The scheduler of a ``Search``: the instance given, or ASHA from the keyword options (and
    a dict of extra ones). An option given twice, or next to an instance, is an error that says
    which one would win."""
    given = {k: v for k, v in asha.items() if v is not None}
    if max_trials is not None:
        given["max_trials"] = max_trials
    if seed is not None:
        given["seed"] = seed
    if isinstance(scheduler, Scheduler):
        if given:
            own = scheduler.get_params()
            parts = ", ".join(
                f"{k}={v!r} (the scheduler has {k}={own.get(k)!r})" for k, v in given.items())
            raise InvalidParameterError(
                f"scheduler options given next to a scheduler instance would be ignored: "
                f"{parts}. The scheduler instance wins; set these options on the scheduler "
                f"itself (e.g. {type(scheduler).__name__}(..., {next(iter(given))}=...))"
            )
        if space is not None:
            raise InvalidParameterError(
                "space must be left out when scheduler is an instance (the scheduler has "
                "its own space); pass the space to the scheduler")
        return scheduler
    if scheduler is not None and not isinstance(scheduler, Mapping):
        raise InvalidTypeError(
            "scheduler must be None, a dict of ASHA options or a scheduler instance "
            f"(ASHA, SHA, Hyperband, AsyncHyperband); got {type(scheduler).__name__}"
        )
    if space is None:
        raise InvalidParameterError(
            "space must be a dict of distributions (e.g. {'lr': space.loguniform(1e-4, 1)}) "
            "when scheduler is None or a dict; got None")
    extra = dict(scheduler or {})
    twice = sorted(set(extra) & set(given))
    if twice:
        raise InvalidParameterError(
            f"{', '.join(twice)} given twice: as a keyword ({', '.join(f'{k}={given[k]!r}' for k in twice)}) "
            f"and in scheduler= ({', '.join(f'{k}={extra[k]!r}' for k in twice)}); give each "
            "option once")
    if "mode" in given:
        check_choice("mode", given["mode"], ("max", "min"))
    if "max_trials" in given:
        check_optional_int("max_trials", given["max_trials"], low=1)
    kwargs = {**ASHA_DEFAULTS, **given, **extra}
    return ASHA(space, **kwargs)


class ScheduledControls:
    """Control calls applied when the search's clock reaches ``at`` (see :meth:`Search.at`).

    Each method returns a ``concurrent.futures.Future`` with the call's result (e.g. the new
    trial id of :meth:`add_trial`) once it has been applied.
    """

    def __init__(self, search: Any, at: float):
        self._search = search
        self._at = at
        #: the search's ``_schedule(command, args, at)``
        self._call: Callable[[Command, Mapping[str, Any], float], cf.Future[Any]] = (
            search._schedule)

    def stop_trial(self, trial_id: int) -> cf.Future[Any]:
        """Stop trial ``trial_id`` at the scheduled time."""
        return self._call(Command.STOP_TRIAL, {"trial_id": trial_id}, self._at)

    def add_trial(self, config: Mapping[str, Any], *, check: bool = True) -> cf.Future[Any]:
        """Add a configuration at the scheduled time (the future gives its trial id)."""
        return self._call(Command.ADD_TRIAL, {"config": config, "check": check}, self._at)

    def pause(self) -> cf.Future[Any]:
        """Pause at the scheduled time."""
        return self._call(Command.PAUSE, {}, self._at)

    def resume(self) -> cf.Future[Any]:
        """Resume at the scheduled time."""
        return self._call(Command.RESUME, {}, self._at)

    def stop(self) -> cf.Future[Any]:
        """Stop the whole search at the scheduled time."""
        return self._call(Command.STOP, {}, self._at)

    def set_n_workers(self, n_workers: int) -> cf.Future[Any]:
        """Change the number of workers at the scheduled time."""
        return self._call(Command.SET_N_WORKERS, {"n_workers": n_workers}, self._at)

    def __repr__(self) -> str:
        return f"<controls of {self._search!r} at t={self._at}>"


def search_options(loop: Loop, executor_spec: Any, progress: bool | str) -> dict[str, Any]:
    """The options of a search as its journal stores them (``Search.from_journal`` starts
    from them)."""
    spec = executor_spec
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
        "progress": progress,
    }


def new_loop(objective: Callable[..., Any], space: Mapping[str, Any] | None, *,
             scheduler: Scheduler | Mapping[str, Any] | None, executor: Any, n_workers: int,
             journal: str | os.PathLike[str] | None, max_trials: int | None,
             time_budget: float | None, target: float | None, seed: int | None,
             min_resource: float | None, max_resource: float | None,
             reduction_factor: int | None, mode: str | None, job_timeout: float | None,
             retries: int, max_jobs: int | None, progress: bool | str) -> Loop:
    """The loop of a new search, every option checked (``Search(...)``); its journal, if
    any, created with the search's options."""
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
        if j is not None:
            j.write_meta(sched, search_options(loop, executor, progress),
                         getattr(clock, "origin", 0.0), virtual=clock.virtual,
                         fingerprint=objective_fingerprint(objective))
    except BaseException:
        if j is not None:
            j.close()  # never leave the journal locked by a search that was not built
        raise
    return loop
