"""How the loop applies control requests: one handler per :class:`Command`.

Control calls from other threads become :class:`~asha_nb.runtime._requests.Request` objects on
the loop's queue (:meth:`Loop.post`); scheduled ones (``search.at(t).pause()``) wait in the
loop's time-ordered heap. Only the thread driving the loop applies them (:func:`apply`), so
only it ever mutates the scheduler.
"""

from __future__ import annotations

import heapq
import queue
from collections.abc import Callable
from typing import Any

from ..core import Event, JobStatus
from ..errors import InvalidParameterError
from ._encoding import check_config_values, job_pickler
from ._loop import Loop
from ._requests import JOURNALED_CONTROLS, Command, Request
from .events import ControlApplied, SearchState

__all__ = ["HANDLERS", "apply", "apply_requests"]


def _stop_trial(loop: Loop, trial_id: int) -> None:
    n = loop.scheduler.n_trials
    if not 0 <= trial_id < n:
        raise InvalidParameterError(
            f"trial_id must be an existing trial id between 0 and {n - 1}, got {trial_id}"
            if n
            else f"trial_id {trial_id} does not exist: no trial has been created yet"
        )
    events = loop.calls.stop_trial(trial_id, loop.clock.now())
    for fl in loop.workers.inflight.values():
        if fl.spec.job.trial_id == trial_id and not fl.user_stopped and fl.timed_out is None:
            fl.user_stopped = True
            loop.executor.stop_job(fl)
    for job in loop.retries.drop_trial(trial_id):
        loop.store.mark(job.job_id, JobStatus.STOPPED)
    loop.bus.publish_all(events)


def _add_trial(loop: Loop, config: dict[str, Any], check: bool = True) -> int:
    check_config_values(config, journal=loop.calls.journaled,
                        pickler=job_pickler(loop.executor))
    events: list[Event] | None = [] if loop.bus.listening else None
    tid = loop.calls.add_trial(config, check, events, loop.clock.now())
    if events:
        loop.bus.publish_all(events)
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
    old = loop.workers.n_workers
    loop.workers.resize(n_workers)
    if n_workers != old:
        loop.executor.resize(n_workers)


def _read_trials(loop: Loop) -> Any:
    return loop.scheduler.trial_columns()


#: Command -> handler(loop, **args).
HANDLERS: dict[Command, Callable[..., Any]] = {
    Command.STOP_TRIAL: _stop_trial,
    Command.ADD_TRIAL: _add_trial,
    Command.PAUSE: _pause,
    Command.RESUME: _resume,
    Command.STOP: _stop,
    Command.SET_N_WORKERS: _set_n_workers,
    Command.READ_TRIALS: _read_trials,
}


def apply(loop: Loop, req: Request) -> None:
    """Apply one request and settle its future."""
    if req.future.done():  # cancelled by its caller
        return
    try:
        result = HANDLERS[req.command](loop, **req.args)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        req.future.set_exception(exc)
        return
    if req.command is not Command.READ_TRIALS:
        now = loop.clock.now()
        if req.command in JOURNALED_CONTROLS:
            loop.calls.control(req.command, req.args, now)
        if loop.bus.listening:
            loop.bus.publish(ControlApplied(str(req.command), dict(req.args), now, result))
        loop.snaps.touch()
    req.future.set_result(result)


def apply_requests(loop: Loop) -> None:
    """Apply the posted requests whose time has come; keep the others for later."""
    reqs = loop.requests
    while not reqs.empty():
        try:
            req = reqs.get_nowait()
        except queue.Empty:
            break
        if req.at is not None and req.at > loop.clock.now():
            loop.schedule(req)
        else:
            apply(loop, req)
    sched = loop.scheduled
    while sched and sched[0][0] <= loop.clock.now():
        apply(loop, heapq.heappop(sched)[2])
