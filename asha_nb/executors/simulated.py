"""Jobs in virtual time: the executor that turns :class:`~asha_nb.Search` into a simulator.

A :class:`SimulatedExecutor` does not run anything in parallel. ``submit`` computes when the job
would finish (its cost from a cost model, times ``straggler_slowdown`` for a straggler) and the
runtime loop, seeing a virtual clock, jumps from one finishing time to the next: a search of
10^4 trials runs in a fraction of a second, and the same seeds give the same rows byte for byte.
The objective is evaluated when its job finishes (``objective(config, resource)``, or the
checkpoint form), so an objective that raises gives a failed job exactly as on real workers.

This is what :func:`asha_nb.simulate`, the teaching view and the runtime's logic tests use:
control calls (``stop_trial``, ``add_trial``, ``pause``, ``set_n_workers``, ``stop``) can be
scheduled at virtual times with ``search.at(t)``, so a simulated search is steered exactly like a
real one.
"""

from __future__ import annotations

import heapq
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._validation import check_number
from ..clock import VirtualClock
from ..errors import InvalidTypeError, SearchStateError
from ._base import BaseExecutor, JobOutcome, JobSpec, RunningJob
from ._worker import ObjectiveForm, objective_form, run_job

__all__ = ["SimulatedExecutor", "SimulatedCrash"]

Cost = float | Callable[[Mapping[str, Any], float], float]
_NO_EXTRA: dict[str, Any] = {}  # shared, never written: simulated jobs carry no extra data


class SimulatedCrash(Exception):
    """Raise it from an objective run by a :class:`SimulatedExecutor` to simulate a worker that
    dies (segfault, out of memory): the job fails as "worker crashed", and ``retries=`` re-runs
    it like a crash on a real process pool."""


class _SimFuture:
    """The minimal future of a simulated job (resolved when its virtual time comes)."""

    __slots__ = ("outcome", "exc", "state")

    def __init__(self) -> None:
        self.outcome: JobOutcome | None = None
        self.exc: BaseException | None = None
        self.state = 0  # 0 pending, 1 done, 2 cancelled

    def done(self) -> bool:
        return self.state != 0

    def cancelled(self) -> bool:
        return self.state == 2

    def cancel(self) -> bool:
        if self.state:
            return False
        self.state = 2
        return True

    def result(self, timeout: float | None = None) -> JobOutcome:
        if self.state == 2:
            import concurrent.futures as cf

            raise cf.CancelledError()
        if self.exc is not None:
            raise self.exc
        if self.outcome is None:
            raise SearchStateError("simulated job has not finished yet")
        return self.outcome

    def add_done_callback(self, fn: Callable[[Any], Any]) -> None:
        raise SearchStateError(
            "a simulated job's future has no callbacks: the runtime polls the executor"
        )


class SimulatedExecutor(BaseExecutor):
    """Run jobs in virtual time from a cost model.

    Parameters
    ----------
    cost
        Seconds per resource unit (a number, default 1.0), or ``(config, resource) -> seconds``
        to train from scratch to ``resource``. ``None``: the objective's own ``cost`` method if it
        has one (e.g. :class:`~asha_nb.synthetic.SyntheticBenchmark`), else 1.0.
    straggler_probability
        Chance (0 to 1) that a job is a straggler.
    straggler_slowdown
        How many times longer a straggler takes (>= 1).
    checkpointing
        If ``True``, a promoted job pays only for ``resource - resume_from``; otherwise it
        retrains from scratch.
    seed
        Seed of the straggler draws.
    clock
        The virtual clock to advance (default: a new one from 0). The search reads its time from
        ``executor.clock``.

    Notes
    -----
    ``can_kill`` is ``True``: a stopped job ends at the current virtual time. A job whose
    duration exceeds ``JobSpec.timeout`` ends at ``start + timeout`` with a ``TimeoutError``
    (``handles_timeouts``). An objective that raises :class:`SimulatedCrash` fails its job as a
    crashed worker.

    Examples
    --------
    >>> from asha_nb import Search, space
    >>> from asha_nb.executors import SimulatedExecutor
    >>> s = Search(lambda c, r: c["x"] * r, {"x": space.uniform(0, 1)}, max_trials=9,
    ...            max_resource=9, seed=0, n_workers=3, progress=False,
    ...            executor=SimulatedExecutor(cost=1.0)).run()
    >>> str(s.state), s.snapshot().elapsed  # 9 + 3 + 1 jobs of 1, 2 and 6 s on 3 workers
    ('finished', 11.0)
    """

    name = "simulated"
    can_kill = True
    handles_timeouts = True
    #: The runtime advances :attr:`clock` instead of waiting for futures.
    virtual = True

    def __init__(
        self,
        cost: Cost | None = None,
        *,
        straggler_probability: float = 0.0,
        straggler_slowdown: float = 3.0,
        checkpointing: bool = True,
        seed: int | None = 0,
        clock: VirtualClock | None = None,
    ) -> None:
        if cost is not None and not callable(cost):
            check_number("cost", cost, low=0, low_inclusive=False)
        check_number("straggler_probability", straggler_probability, low=0, high=1)
        check_number("straggler_slowdown", straggler_slowdown, low=1)
        if clock is not None and not isinstance(clock, VirtualClock):
            raise InvalidTypeError(
                f"clock must be an asha_nb.clock.VirtualClock, got {type(clock).__name__}"
            )
        self.cost = cost
        self.straggler_probability = float(straggler_probability)
        self.straggler_slowdown = float(straggler_slowdown)
        self.checkpointing = bool(checkpointing)
        self.seed = seed
        self.clock = clock if clock is not None else VirtualClock()
        self.n_workers = 0
        self._objective: Callable[..., Any] | None = None
        self._form: ObjectiveForm | None = None
        self._duration: Callable[[JobSpec], float] | None = None
        self._heap: list[tuple[float, int, int, RunningJob, float | None]] = []
        self._ready: list[RunningJob] = []  # stopped jobs: they end now
        self._stale = 0  # entries of stopped jobs still in the heap
        self._seq = 0
        self._rng = np.random.default_rng(seed)
        self._coins: Any = None
        self._coin_i = 0
        self._strag = bytearray()  # straggler flag by job id

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that rebuild an equivalent executor (a callable cost
        model is not kept: it comes back as the objective's own ``cost``, or 1.0)."""
        return {"cost": None if callable(self.cost) else self.cost,
                "straggler_probability": self.straggler_probability,
                "straggler_slowdown": self.straggler_slowdown,
                "checkpointing": self.checkpointing, "seed": self.seed}

    # ------------------------------------------------------------------ life cycle
    def check_objective(self, objective: Any) -> None:
        """Accept a callable or an object with ``objective`` (and ``cost``) methods."""
        if hasattr(objective, "objective") and callable(objective.objective):
            objective = objective.objective
        objective_form(objective)

    def start(self, objective: Any, n_workers: int) -> None:
        """Take the objective (and its cost model, for objects with ``objective``/``cost``)."""
        cost = self.cost
        if hasattr(objective, "objective") and callable(objective.objective):
            if cost is None and callable(getattr(objective, "cost", None)):
                cost = objective.cost
            objective = objective.objective
        if not callable(objective):
            raise InvalidTypeError(
                f"objective must be callable (config, resource) -> value, got {objective!r}"
            )
        self._objective = objective
        self._form = objective_form(objective)
        self.n_workers = n_workers
        self._duration = self._duration_model(1.0 if cost is None else cost)
        if self.straggler_probability > 0:
            self._coins = self._rng.random(4096)

    def _duration_model(self, cost: Cost) -> Callable[[JobSpec], float]:
        if callable(cost):
            cost_fn = cost
            if self.checkpointing:
                def duration(spec: JobSpec) -> float:
                    d = cost_fn(spec.job.config, spec.job.resource)
                    return d - cost_fn(spec.job.config, spec.job.resume_from) if spec.job.resume_from else d
            else:
                def duration(spec: JobSpec) -> float:
                    return cost_fn(spec.job.config, spec.job.resource)
            return duration
        unit = float(cost)
        if self.checkpointing:
            return lambda spec: unit * (spec.job.resource - spec.job.resume_from)
        return lambda spec: unit * spec.job.resource

    def submit(self, spec: JobSpec) -> RunningJob:
        """Schedule ``spec`` to finish at ``now + duration`` (virtual)."""
        if self._duration is None:
            raise SearchStateError("SimulatedExecutor.submit() called before start()")
        now = self.clock.t
        d = float(self._duration(spec))
        strag = False
        coins = self._coins
        if coins is not None:
            if self._coin_i == len(coins):
                coins = self._coins = self._rng.random(4096)
                self._coin_i = 0
            strag = bool(coins[self._coin_i] < self.straggler_probability)
            self._coin_i += 1
            if strag:
                d *= self.straggler_slowdown
        jid = spec.job.job_id
        flags = self._strag
        if jid >= len(flags):
            flags.extend(b"\0" * (jid + 1 - len(flags)))
        flags[jid] = strag
        running = RunningJob(spec, _SimFuture(), _NO_EXTRA, now)  # type: ignore[arg-type]
        timeout = spec.timeout
        timed_out = None
        if timeout is not None and d > timeout:
            timed_out = d = timeout
        self._seq += 1
        heapq.heappush(self._heap, (now + d, spec.worker, self._seq, running, timed_out))
        return running

    def stop_job(self, running: RunningJob) -> None:
        """End the job now (a kill): its future is cancelled."""
        if running.future.cancel():
            self._ready.append(running)
            self._stale += 1

    def shutdown(self, wait: bool = False) -> None:
        """Forget every job still scheduled."""
        for entry in self._heap:
            entry[3].future.cancel()
        self._heap.clear()
        self._ready.clear()

    # ------------------------------------------------------------------ virtual time
    def next_time(self) -> float | None:
        """Virtual time of the next job to finish (``None`` if none is out)."""
        if self._ready:
            return self.clock.t
        heap = self._heap
        if self._stale:
            while heap and heap[0][3].future.done():  # a stopped job's old slot
                heapq.heappop(heap)
                self._stale -= 1
        return heap[0][0] if heap else None

    def pop(self) -> RunningJob:
        """Advance the clock to the next finishing job, run its objective, return it."""
        if self._ready:
            return self._ready.pop(0)
        if self.next_time() is None:
            raise SearchStateError("no simulated job is running")
        end, _, _, running, timed_out = heapq.heappop(self._heap)
        self.clock.t = end
        fut: _SimFuture = running.future  # type: ignore[assignment]
        fut.state = 1
        if timed_out is not None:
            fut.exc = TimeoutError(f"job exceeded its timeout of {timed_out:g} s")
            return running
        spec = running.spec
        objective = self._objective
        assert objective is not None
        if self._form is ObjectiveForm.PLAIN:
            try:
                value = objective(spec.job.config, spec.job.resource)
            except SimulatedCrash as exc:
                fut.exc = exc
            except Exception:  # noqa: BLE001 - any error of the objective becomes the job's error
                fut.outcome = JobOutcome(error=traceback.format_exc())
            else:
                fut.outcome = JobOutcome(value=value)
        else:
            outcome = run_job(objective, spec, form=self._form)
            if outcome.error is not None and "SimulatedCrash" in outcome.error.splitlines()[-1]:
                fut.exc = SimulatedCrash(outcome.error.splitlines()[-1])
            else:
                fut.outcome = outcome
        return running

    def is_straggler(self, job_id: int) -> bool:
        """Whether job ``job_id`` was drawn as a straggler."""
        return job_id < len(self._strag) and bool(self._strag[job_id])

    def __repr__(self) -> str:
        return (f"SimulatedExecutor(cost={self.cost!r}, straggler_probability="
                f"{self.straggler_probability!r}, checkpointing={self.checkpointing!r}, "
                f"seed={self.seed!r})")
