"""Running one job inside a worker (thread, process, Dask worker, any ``concurrent.futures`` pool).

Objective forms
---------------
The objective's signature is inspected once (:func:`objective_form`) and it is called in one
of three ways:

(a) **plain** ``objective(config, resource) -> float``: trains from scratch up to
    ``resource`` and returns the value::

        def objective(config, resource):
            model = make_model(config)
            for epoch in range(int(resource)):
                train_one_epoch(model)
            return validation_loss(model)

(b) **checkpoint** ``objective(config, resource, checkpoint) -> (value, new_checkpoint)``:
    ``checkpoint`` is ``None`` for a new trial; a promoted trial gets the checkpoint it
    returned last time, so it resumes instead of retraining. Detected when the function has
    three required positional parameters, or a third one named ``checkpoint`` (``ckpt`` or
    ``state``), e.g. ``def objective(config, resource, checkpoint=None)``::

        def objective(config, resource, checkpoint):
            model, done = checkpoint if checkpoint is not None else (make_model(config), 0)
            for epoch in range(done, int(resource)):
                train_one_epoch(model)
            return validation_loss(model), (model, int(resource))

(c) **context** ``objective(trial) -> float``: a single parameter receives a
    :class:`~asha_nb.Trial` (``trial.config``, ``trial.resource``, ``trial.resume_from``,
    ``trial.checkpoint``); it may stream per-epoch values with ``trial.report(value)``, stop
    early when ``trial.should_stop()`` and keep a checkpoint with ``trial.save(obj)``::

        def objective(trial):
            model = trial.checkpoint or make_model(trial.config)
            for epoch in range(int(trial.resume_from), int(trial.resource)):
                train_one_epoch(model)
                loss = validation_loss(model)
                if trial.report(loss):      # True once the runtime asked the job to stop
                    break
            trial.save(model)
            return loss

Set ``objective.__asha_form__ = "plain" | "checkpoint" | "trial"`` to skip the inspection.

Any of the three may be an ``async def`` function: the job awaits the coroutine in its worker
(``asyncio.run`` on the worker's thread, or on a helper thread where an event loop already runs
in that thread, as in a notebook's main thread), so an objective can ``await`` I/O (a remote
training service, an async data loader)::

    async def objective(config, resource):
        return await remote_train(config, epochs=resource)

Errors raised by the objective never escape :func:`run_job`: they come back as
``JobOutcome(error=<formatted traceback>)``. The returned value is passed back unvalidated.

Process pools get the objective as ``cloudpickle`` bytes (:func:`dumps_objective`) and run
:func:`run_pickled` or :func:`run_installed`, module-level trampolines importable in every
worker, so functions defined in a notebook (``__main__``), lambdas and closures work under the
``spawn`` and ``forkserver`` start methods. The loaded function is cached per worker process
by the hash of its bytes.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .._trial import Channel, NullChannel, Trial
from ._base import JobOutcome, JobSpec
from ._forms import ObjectiveForm, objective_form

__all__ = [
    "ObjectiveForm",
    "objective_form",
    "run_job",
    "QueueChannel",
    "NullChannel",
]

# ---------------------------------------------------------------------------- channels
class QueueChannel:
    """A channel over a queue (``put``) and a mapping of stop flags (``get``).

    Works with ``queue.SimpleQueue`` + ``dict`` inside one process (threads) and with
    ``multiprocessing.Manager`` queue and dict proxies across processes. Reports are sent as
    ``(job_id, trial_id, resource, value)`` tuples.
    """

    def __init__(self, queue: Any, stop_flags: Any) -> None:
        self.queue = queue
        self.stop_flags = stop_flags

    def report(self, job_id: int, trial_id: int, resource: float, value: float) -> None:
        """Put one report on the queue."""
        self.queue.put((job_id, trial_id, resource, value))

    def should_stop(self, job_id: int) -> bool:
        """Whether ``job_id`` has its stop flag set."""
        return bool(self.stop_flags.get(job_id, False))

    def started(self, job_id: int) -> None:
        """Nothing to send: the thread executor stamps starts itself and pebble times jobs."""


_NULL = NullChannel()


# ---------------------------------------------------------------------------- run one job
def run_job(
    objective: Callable[..., Any],
    spec: JobSpec,
    channel: Channel | None = None,
    *,
    form: ObjectiveForm | str | None = None,
) -> JobOutcome:
    """Run one job of ``objective`` and return its :class:`JobOutcome`; never raises for
    errors of the objective.

    Parameters
    ----------
    objective
        The user's objective (any of the three forms).
    spec
        The job to run.
    channel
        Streaming and stop-flag transport (default: :class:`NullChannel`).
    form
        The objective's form, if already known (else inspected, which is cheap).

    Returns
    -------
    JobOutcome
        ``value`` is the raw return value (for the checkpoint form, the first element of the
        returned pair); ``error`` the formatted traceback if the objective raised;
        ``stopped`` is ``True`` if the job was stopped before it started or the objective saw
        ``trial.should_stop()`` return ``True``.

    Examples
    --------
    >>> from asha_nb.executors import JobSpec
    >>> spec = JobSpec(job_id=0, trial_id=0, config={"x": 2}, rung=0, resource=3, resume_from=0)
    >>> run_job(lambda config, resource: config["x"] * resource, spec).value
    6
    """
    channel = channel if channel is not None else _NULL
    try:
        if channel.should_stop(spec.job.job_id):  # stopped while queued: do not start it
            return JobOutcome(stopped=True)
    except Exception:  # noqa: BLE001 - a broken channel never stops the job
        pass
    try:
        channel.started(spec.job.job_id)
    except Exception:  # noqa: BLE001 - best effort: the executor then does not know the start time
        pass
    if form is None:
        form = objective_form(objective)
    elif type(form) is not ObjectiveForm:
        form = ObjectiveForm(form)
    start = time.perf_counter()
    if form is not ObjectiveForm.TRIAL:  # no Trial object: nothing to report or to save
        try:
            if form is ObjectiveForm.PLAIN:
                value = _resolve(objective(dict(spec.job.config), spec.job.resource))
                checkpoint = None
            else:
                result = _resolve(objective(dict(spec.job.config), spec.job.resource, spec.checkpoint))
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise TypeError(
                        "an objective(config, resource, checkpoint) must return a pair "
                        f"(value, new_checkpoint); it returned {type(result).__name__}: "
                        f"{result!r:.200}"
                    )
                value, checkpoint = result
        except (Exception, SystemExit):  # noqa: BLE001 - any error of the objective becomes the jo
            return JobOutcome(error=traceback.format_exc(),
                              duration=time.perf_counter() - start)
        return JobOutcome(value=value, checkpoint=checkpoint,
                          duration=time.perf_counter() - start)
    trial = Trial.from_spec(spec, channel)
    try:
        value = _resolve(objective(trial))
        checkpoint = trial.saved_checkpoint
    except (Exception, SystemExit):  # noqa: BLE001 - any error of the objective becomes the job's
        return JobOutcome(
            error=traceback.format_exc(),
            intermediate=trial.intermediate,
            stopped=trial.stop_seen,
            duration=time.perf_counter() - start,
        )
    return JobOutcome(
        value=value,
        checkpoint=checkpoint,
        intermediate=trial.intermediate,
        stopped=trial.stop_seen,
        duration=time.perf_counter() - start,
    )


def _resolve(value: Any) -> Any:
    """Await ``value`` if an ``async def`` objective returned a coroutine (or awaitable)."""
    if type(value) is float or not inspect.isawaitable(value):
        return value
    coro = value if inspect.iscoroutine(value) else _await(value)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread (worker threads and processes)
        return asyncio.run(coro)
    # An event loop already runs in this thread (a notebook's main thread): blocking it to run
    # another loop is not allowed, so run the coroutine on a helper thread and wait for it.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="asha-async-objective", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _await(awaitable: Any) -> Any:
    return await awaitable
