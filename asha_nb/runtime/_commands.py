"""Control commands of a search: an enum, the request that carries one, and a dispatch table.

Control calls from other threads (notebook cells, the dashboard's buttons) become
:class:`Request` objects on the loop's queue; scheduled ones (``search.at(t).pause()``) wait in
the loop's time-ordered heap. Only the loop applies them, through :data:`HANDLERS`, so only the
loop thread ever mutates the scheduler.
"""

from __future__ import annotations

import concurrent.futures as cf
import enum
import heapq
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._validation import check_int
from ..core import Event, JobStatus
from ..errors import InvalidParameterError, InvalidTypeError
from ._encoding import check_config_values, job_pickler
from .events import SearchState

if TYPE_CHECKING:  # pragma: no cover
    from ._loop import Loop

__all__ = ["Command", "Request", "HANDLERS", "JOURNALED_CONTROLS", "check_args"]


class Command(str, enum.Enum):
    """What a control request asks the loop to do."""

    STOP_TRIAL = "stop_trial"  #: stop one trial (kill / cooperative flag for its running job)
    ADD_TRIAL = "add_trial"  #: add a configuration (enters rung 0 with the next free worker)
    PAUSE = "pause"  #: hand out no new jobs
    RESUME = "resume"  #: hand out jobs again
    STOP = "stop"  #: end the search (state "stopped")
    SET_N_WORKERS = "set_n_workers"  #: change the number of jobs kept in flight
    READ_TRIALS = "read_trials"  #: a read: the trials as columns, taken on the loop thread

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class Request:
    """One command with its arguments, the future its caller waits on, and when to apply it
    (``at``: search time, or ``None`` for as soon as possible)."""

    command: Command
    args: Mapping[str, Any]
    future: cf.Future[Any] = field(default_factory=cf.Future)
    at: float | None = None


#: Commands journaled as ``control`` rows (``stop_trial`` and ``add_trial`` are scheduler calls
#: with rows of their own).
JOURNALED_CONTROLS = frozenset({Command.PAUSE, Command.RESUME, Command.STOP,
                                Command.SET_N_WORKERS})


def check_args(command: Command, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a command's arguments on the caller's thread (clear errors before queueing)."""
    out = dict(args)
    if command is Command.STOP_TRIAL:
        tid = out["trial_id"]
        if isinstance(tid, bool) or not isinstance(tid, numbers.Integral):
            raise InvalidTypeError(f"trial_id must be an integer trial id, got {tid!r}")
        out["trial_id"] = int(tid)
    elif command is Command.ADD_TRIAL:
        cfg = out["config"]
        if not isinstance(cfg, Mapping):
            raise InvalidTypeError(
                f"config must be a dict of parameter values (e.g. {{'lr': 0.1}}), got "
                f"{type(cfg).__name__}: {cfg!r:.80}"
            )
        out["config"] = dict(cfg)
        out["check"] = bool(out.get("check", True))
    elif command is Command.SET_N_WORKERS:
        out["n_workers"] = check_int("n_workers", out["n_workers"], low=1)
    return out


def _stop_trial(loop: Loop, trial_id: int) -> None:
    n = loop.scheduler.n_trials
    if not 0 <= trial_id < n:
        raise InvalidParameterError(
            f"trial_id must be an existing trial id between 0 and {n - 1}, got {trial_id}"
            if n
            else f"trial_id {trial_id} does not exist: no trial has been created yet"
        )
    _do_stop_trial(loop, trial_id)


def _do_stop_trial(loop: Loop, trial_id: int) -> None:
    events = loop.calls.stop_trial(trial_id, loop.clock.now())
    for fl in loop.inflight.values():
        if fl.job.trial_id == trial_id and not fl.user_stopped and fl.timed_out is None:
            fl.user_stopped = True
            loop.executor.stop_job(fl)
    for job, attempt in [p for p in loop.pending if p[0].trial_id == trial_id]:
        loop.pending.remove((job, attempt))
        loop.store.mark(job.job_id, JobStatus.STOPPED)
    loop.publish_all(events)


def _add_trial(loop: Loop, config: dict[str, Any], check: bool = True) -> int:
    check_config_values(config, journal=loop.calls.journaled,
                        pickler=job_pickler(loop.executor))
    events: list[Event] | None = [] if loop.listening else None
    tid = loop.calls.add_trial(config, check, events, loop.clock.now())
    if events:
        loop.publish_all(events)
    return tid


def _set_paused(loop: Loop, paused: bool) -> None:
    if paused == loop.paused:
        return
    loop.paused = paused
    if paused:
        loop.paused_since = loop.clock.now()
        if loop.state is SearchState.RUNNING:
            loop.set_state(SearchState.PAUSED)
    else:
        if loop.paused_since is not None and loop.started_at is not None:
            loop.paused_total += max(0.0, loop.clock.now() - loop.paused_since)
        loop.paused_since = None
        if loop.state is SearchState.PAUSED:
            loop.set_state(SearchState.RUNNING)


def _pause(loop: Loop) -> None:
    _set_paused(loop, True)


def _resume(loop: Loop) -> None:
    _set_paused(loop, False)


def _stop(loop: Loop) -> None:
    loop.request_end("stop()", stopped=True)


def _set_n_workers(loop: Loop, n_workers: int) -> None:
    loop.executor.check_n_workers(n_workers)  # refused before anything changes
    old = loop.n_workers
    loop.n_workers = n_workers
    busy = {fl.worker for fl in loop.inflight.values()}
    loop.free = [w for w in range(n_workers) if w not in busy]
    heapq.heapify(loop.free)
    if n_workers != old:
        loop.executor.resize(n_workers)


def _read_trials(loop: Loop) -> Any:
    return loop.scheduler.trial_columns()


#: Command -> handler(loop, **args). The loop calls ``HANDLERS[req.command](loop, **req.args)``.
HANDLERS: dict[Command, Callable[..., Any]] = {
    Command.STOP_TRIAL: _stop_trial,
    Command.ADD_TRIAL: _add_trial,
    Command.PAUSE: _pause,
    Command.RESUME: _resume,
    Command.STOP: _stop,
    Command.SET_N_WORKERS: _set_n_workers,
    Command.READ_TRIALS: _read_trials,
}
