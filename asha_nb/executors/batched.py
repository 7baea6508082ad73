"""The ``"jax-batched"`` executor: ASHA jobs trained many at once as one jitted ``vmap``.

The runtime submits up to ``n_workers`` jobs (``n_workers`` is the *batch capacity*, e.g. 64).
A background thread gathers the submitted :class:`~asha_nb.executors.JobSpec` objects (short
gather window), groups them by static signature, loads each job's checkpoint (a host slice, or
a fresh ``init`` for a new trial) into a free slot of its group's batch, and trains the batch in
*chunks* of ``min(remaining epochs)`` over its rows (:class:`asha_nb.integrations.jax.BatchEngine`).
At the end of a chunk the rows that reached their target are evaluated, sliced to host memory
(their checkpoint) and resolved as :class:`~asha_nb.executors.JobOutcome`; their slots take the
next jobs the runtime submits (continuous batching).

Why chunks and not "group by epoch count": ASHA mixes short rung-0 jobs with long promotions.
Grouping by epoch count would split the batch into several small ones (more dispatches, more
batch sizes, so more compiles), while a chunk of ``min(remaining)`` epochs never trains a row
past its target and lets freed slots refill right away; a long promotion just spans several
chunks of one compiled program (the epoch count is a traced loop bound, not a static one).

Stopping a job drops its row at the next chunk boundary (``can_kill = True``).

Examples
--------
::

    from asha_nb import ASHA, Search
    from asha_nb.executors.jax_batched import JaxBatchExecutor
    from asha_nb.integrations.jax import digits_mlp

    model, space = digits_mlp()
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=200)
    search = Search(model, scheduler=sched, executor=JaxBatchExecutor(), n_workers=64).run()
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidTypeError, SearchStateError
from ._base import BaseExecutor, IntermediateReport, JobOutcome, JobSpec, RunningJob

__all__ = ["JaxBatchExecutor"]


class JaxBatchExecutor(BaseExecutor):
    """Train jobs of a :class:`~asha_nb.integrations.jax.BatchedModel` in vmapped batches.

    Parameters
    ----------
    model
        The model. ``None``: the objective passed to :meth:`start` (i.e. ``Search``'s
        ``objective``) must be the :class:`BatchedModel`.
    devices
        Devices the configuration axis is sharded over (default ``jax.local_devices()``).
    buckets
        Batch sizes (default: ``n_devices * 2**j`` up to ``n_workers``).
    gather_window
        Seconds to wait, after jobs finished, for the runtime to submit their replacements
        before the next chunk starts (it stops waiting as soon as they have all arrived).
    max_chunk
        Most epochs per chunk (``None``: ``min(remaining)``); smaller chunks let new jobs join
        sooner and stream intermediate values more often.

    Attributes
    ----------
    engine : BatchEngine or None
        The engine (after :meth:`start`); ``engine.model.n_compiles`` counts compilations.
    """

    name = "jax-batched"
    can_kill = True

    def __init__(
        self,
        model: Any = None,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
        gather_window: float = 0.02,
        max_chunk: int | None = None,
    ) -> None:
        self.model = model
        self.devices = devices
        self.buckets = buckets
        self.gather_window = float(gather_window)
        self.max_chunk = max_chunk
        self.engine: Any = None
        self.n_workers = 0
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._reports: queue.SimpleQueue[IntermediateReport] = queue.SimpleQueue()
        self._jobs: dict[int, tuple[JobSpec, cf.Future, float]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    # ------------------------------------------------------------------ life cycle
    @property
    def n_compiles(self) -> int:
        """Batched programs compiled so far by the model."""
        return 0 if self.engine is None else int(self.engine.model.n_compiles)

    def start(self, objective: Any, n_workers: int) -> None:
        """Build the engine (capacity ``n_workers``) and start the batching thread."""
        model = self.model if self.model is not None else objective
        if not callable(getattr(model, "engine", None)):
            raise InvalidTypeError(
                "JaxBatchExecutor needs an asha_nb.integrations.jax.BatchedModel (or a "
                "BatchedTorchModel, anything with .engine()): pass it as the "
                f"search objective or as JaxBatchExecutor(model=...); got {type(model).__name__}"
            )
        self.model = model
        self.n_workers = int(n_workers)
        self.engine = model.engine(self.n_workers, devices=self.devices, buckets=self.buckets)
        self._closed.clear()
        self._thread = threading.Thread(target=self._run, name="asha-jax-batched", daemon=True)
        self._thread.start()

    def submit(self, spec: JobSpec) -> RunningJob:
        """Queue ``spec`` for the next batch; never blocks."""
        if self._thread is None or self._closed.is_set():
            raise SearchStateError("JaxBatchExecutor.submit() called before start() or after shutdown()")
        fut: cf.Future = cf.Future()
        self._inbox.put(("add", (spec, fut)))
        return RunningJob(spec, fut)

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if not yet loaded, else drop its row at the next chunk boundary."""
        if not running.future.cancel():
            self._inbox.put(("stop", running.spec.job_id))

    def drain_reports(self) -> list[IntermediateReport]:
        """Values of rows still training, at the end of each chunk."""
        out: list[IntermediateReport] = []
        while True:
            try:
                out.append(self._reports.get_nowait())
            except queue.Empty:
                return out

    def resize(self, n_workers: int) -> None:
        """Change the batch capacity (applied at the next chunk boundary)."""
        self.n_workers = int(n_workers)
        self._inbox.put(("resize", int(n_workers)))

    def shutdown(self, wait: bool = False) -> None:
        """Stop the thread; queued and running jobs are cancelled/stopped."""
        self._closed.set()
        self._inbox.put(("wake", None))
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    # ------------------------------------------------------------------ worker thread
    def _handle(self, kind: str, payload: Any) -> int:
        """Apply one inbox message; returns 1 if a job was added."""
        eng = self.engine
        if kind == "add":
            spec, fut = payload
            if not fut.set_running_or_notify_cancel():
                return 0
            try:
                ck = spec.checkpoint
                done = 0 if ck is None else int(ck.get("resource", 0))
                if ck is None and spec.resume_from > 0:
                    done = 0  # no checkpoint: retrain from scratch up to resource
                epochs = round(float(spec.resource)) - done
                eng.add(spec.job_id, spec.trial_id, spec.config, max(epochs, 0), ck)
            except Exception:  # noqa: BLE001 - bad config/checkpoint fails this job only
                fut.set_result(JobOutcome(error=traceback.format_exc()))
                return 0
            self._jobs[spec.job_id] = (spec, fut, time.perf_counter())
            return 1
        if kind == "stop":
            entry = self._jobs.pop(payload, None)
            if entry is not None:
                eng.remove(payload)
                entry[1].set_result(JobOutcome(stopped=True, duration=time.perf_counter() - entry[2]))
        elif kind == "resize":
            eng.set_capacity(payload)
        return 0

    def _gather(self, idle: bool, want: int) -> None:
        """Take inbox messages: when idle, block for the first job then gather for
        ``gather_window``; else wait up to ``gather_window`` for ``want`` new jobs."""
        added = 0
        now = time.perf_counter()
        deadline = None if idle else now + (self.gather_window if want > 0 else 0.0)
        while not self._closed.is_set():
            if added >= want and deadline is not None:
                deadline = 0.0  # enough: take what is already there, no more waiting
            timeout = 0.1 if deadline is None else deadline - time.perf_counter()
            try:
                if timeout <= 0:
                    kind, payload = self._inbox.get_nowait()
                else:
                    kind, payload = self._inbox.get(timeout=timeout)
            except queue.Empty:
                if deadline is None:
                    continue
                return
            added += self._handle(kind, payload)
            if deadline is None and added:
                deadline = time.perf_counter() + self.gather_window
                want = self.n_workers

    def _run(self) -> None:
        eng = self.engine
        freed = self.n_workers
        while not self._closed.is_set():
            idle = eng.n_active == 0
            self._gather(idle, freed)
            if self._closed.is_set():
                break
            if eng.n_active == 0:
                freed = self.n_workers
                continue
            try:
                finished = eng.step(self.max_chunk)
            except Exception:  # noqa: BLE001 - a failing program fails its group's jobs
                err = traceback.format_exc()
                for job_id, (_, fut, _) in list(self._jobs.items()):
                    eng.remove(job_id)
                    fut.set_result(JobOutcome(error=err))
                self._jobs.clear()
                freed = self.n_workers
                continue
            freed = len(finished)
            now = time.perf_counter()
            for f in finished:
                entry = self._jobs.pop(f.key, None)
                if entry is None:
                    continue
                spec, fut, t0 = entry
                fut.set_result(JobOutcome(value=f.value, checkpoint=f.checkpoint, duration=now - t0))
            for key, (resource, value) in eng.progress().items():
                entry = self._jobs.get(key)
                if entry is not None:
                    self._reports.put(IntermediateReport(key, entry[0].trial_id, resource, value))
        # shutdown: stop whatever is left
        for _job_id, (_spec, fut, t0) in list(self._jobs.items()):
            if not fut.done():
                fut.set_result(JobOutcome(stopped=True, duration=time.perf_counter() - t0))
        self._jobs.clear()
        while True:
            try:
                kind, payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "add":
                payload[1].cancel()

    def __repr__(self) -> str:
        return f"JaxBatchExecutor(n_workers={self.n_workers}, n_compiles={self.n_compiles})"
