"""Train many jobs at once as one batch: the executor and the batch-engine protocol it drives.

The runtime hands jobs to :class:`BatchedExecutor` one by one, as to any executor; the executor
feeds them to a *batch engine* that trains many configurations of one model together (a
``vmap``-ed JAX program, or a ``torch.func`` batch) and resolves each job's future when its
row reaches its target resource. The model decides which engine: the executor only needs a
model with ``engine(capacity, **options)`` (:class:`BatchedObjective`) that returns an object
following the :class:`BatchEngine` protocol. Two implementations ship with asha_nb:

- :class:`asha_nb.integrations.jax.BatchedModel` (engine
  :class:`~asha_nb.integrations.jax.JaxBatchEngine`): vmapped batches sharded across local
  devices;
- :class:`asha_nb.integrations.torch.BatchedTorchModel` (engine
  :class:`~asha_nb.integrations.torch.TorchBatchEngine`): ``torch.func`` batches.

This module imports neither JAX nor torch.

Examples
--------
An engine that lacks part of the protocol is refused when the executor starts:

>>> class NotAnEngine:
...     def add(self, key, trial_id, config, epochs, checkpoint=None): ...
>>> missing_engine_members(NotAnEngine())
['remove', 'step', 'progress', 'set_capacity', 'n_active']
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import time
import traceback
from collections.abc import Hashable
from typing import Any

from ..errors import (
    ExecutorLostError,
    InvalidParameterError,
    InvalidTypeError,
    SearchStateError,
)
from ._base import BaseExecutor, IntermediateReport, JobOutcome, JobSpec, RunningJob
from ._batch_protocol import (
    ENGINE_MEMBERS,
    BatchedObjective,
    BatchEngine,
    Finished,
    check_engine_options,
    missing_engine_members,
    whole_epochs,
)
from ._batching import _check_model_options, _end_at_exit, _HeapHold, _Job, _join_ended, _Msg

__all__ = [
    "BatchEngine",
    "BatchedObjective",
    "BatchedExecutor",
    "Finished",
    "ENGINE_MEMBERS",
    "check_engine_options",
    "missing_engine_members",
    "whole_epochs",
]


class BatchedExecutor(BaseExecutor):
    """Train the search's jobs in batches: one batch engine instead of ``n_workers`` workers.

    ``n_workers`` is the *batch capacity*: the most jobs (rows) trained together, unless
    ``batch_size`` is smaller (then the rest queue). Jobs join the batch as they are submitted
    and leave it when they reach their resource (continuous batching); a stopped job's row is
    dropped at the next chunk boundary (one whose last chunk is in flight ends with its value).

    Parameters
    ----------
    model
        A :class:`BatchedObjective` (e.g. :class:`asha_nb.integrations.jax.BatchedModel` or
        :class:`asha_nb.integrations.torch.BatchedTorchModel`). ``None``: the objective passed
        to :meth:`start` (i.e. ``Search``'s ``objective``) is the model.
    gather_window
        Most seconds to wait, after jobs finished, for the runtime to submit their replacements
        before the next chunk starts. It stops waiting as soon as they have all arrived, when
        none has come for twice the runtime's observed delay to its first submission (at least
        1 ms; its decaying maximum), or, once some have come, when none more has come for a
        quarter of that (at least 0.5 ms): the runtime submits a burst, so a search's tail, where
        the scheduler has fewer jobs than rows freed, is not slowed down. The same gap ends the
        wait for a full batch when the batch is empty.
    max_chunk
        Most epochs per chunk (``None``: the engine's own chunk, ``min(remaining)`` for the
        bundled engines); smaller chunks let new jobs join sooner and stream intermediate
        values more often.
    batch_size
        Most rows trained at once (the engine's capacity); ``None``: ``n_workers``. With a
        ``batch_size`` below the search's ``n_workers``, the other jobs wait in the engine's
        queue (in the order submitted) and fill the rows that finish in the very next chunk,
        without waiting for the runtime to react to the finished jobs: the device keeps
        training while the runtime decides (e.g. ``n_workers=2 * batch_size``). The queued jobs
        count as running (the search's ``n_workers`` are the jobs handed to the executor).
    freeze_gc
        While the batching thread runs, keep the objects that exist when it starts out of
        Python's full garbage collections (``gc.freeze()``, undone with ``gc.unfreeze()`` when
        the last such executor stops; left alone when the program froze objects itself). With
        JAX loaded a full collection scans ~200,000 objects and stalls both threads for about
        0.1 s, which a search of a few seconds would otherwise pay once or twice.
    **engine_options
        Passed to ``model.engine(capacity, **engine_options)``, e.g. ``devices=``,
        ``buckets=``, ``max_pool_bytes=`` (the device checkpoint pool's cap),
        ``pipeline_depth=`` (chunks dispatched ahead of the one being read) or
        ``progress_interval=`` (seconds between evaluations of every row, whose values of the
        rows still training are the intermediate reports; ``0``: every chunk, ``None``: never;
        default 1 s) for a JAX :class:`~asha_nb.integrations.jax.BatchedModel`.

    Attributes
    ----------
    engine : BatchEngine or None
        The engine (after :meth:`start`).
    timings : dict of str to float
        Seconds the batching thread spent, since :meth:`start`: ``"gather"`` waiting for and
        taking the runtime's submissions (``"add"`` of it: handing them to the engine),
        ``"step"`` in the engine's ``step`` (its device wait included) and ``"results"``
        resolving the jobs' futures and queueing intermediate values (with the runtime's done
        callbacks that run there).

    Raises
    ------
    InvalidParameterError
        For a negative ``gather_window``, a ``max_chunk`` or ``batch_size`` below 1, an
        engine option out of its range (:func:`check_engine_options`; with ``model`` given,
        also what its ``check_engine_options`` refuses, e.g. a ``train_block`` that is not
        a multiple of the JAX device count).
    InvalidTypeError
        For a ``freeze_gc`` that is not a bool, engine options ``model.engine()`` does not
        take (with ``model`` given, else from :meth:`start`); from :meth:`start`, if the model has no
        ``engine()`` or its engine does not follow :class:`BatchEngine` (the message names the
        missing members).

    Notes
    -----
    ``handles_timeouts`` is ``False``: the runtime enforces job timeouts and stops the job,
    whose row then leaves the batch at the next chunk boundary.
    """

    name = "batched"
    can_kill = True
    handles_timeouts = False

    def __init__(
        self,
        model: Any = None,
        *,
        gather_window: float = 0.02,
        max_chunk: int | None = None,
        batch_size: int | None = None,
        freeze_gc: bool = True,
        **engine_options: Any,
    ) -> None:
        if batch_size is not None and (
                not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1):
            raise InvalidParameterError(
                f"batch_size must be None or an int >= 1 (rows trained at once), got {batch_size!r}")
        if not (isinstance(gather_window, (int, float)) and not isinstance(gather_window, bool)
                and gather_window >= 0):
            raise InvalidParameterError(f"gather_window must be >= 0 seconds, got {gather_window!r}")
        if max_chunk is not None and (not isinstance(max_chunk, int) or isinstance(max_chunk, bool)
                                      or max_chunk < 1):
            raise InvalidParameterError(f"max_chunk must be None or an int >= 1, got {max_chunk!r}")
        # bad engine options are refused here, not when the search starts
        check_engine_options(engine_options)
        if model is not None:
            _check_model_options(model, engine_options)
        self.model = model
        self.gather_window = float(gather_window)
        self.max_chunk = max_chunk
        self.batch_size = batch_size
        if not isinstance(freeze_gc, bool):
            raise InvalidTypeError(f"freeze_gc must be a bool, got {type(freeze_gc).__name__}")
        self.freeze_gc = freeze_gc
        self._hold = _HeapHold(False)
        self.engine_options = dict(engine_options)
        self.engine: BatchEngine | None = None
        self.n_workers = 0
        self._inbox: queue.SimpleQueue[tuple[_Msg, Any]] = queue.SimpleQueue()
        self._reports: queue.SimpleQueue[IntermediateReport] = queue.SimpleQueue()
        self._jobs: dict[Hashable, _Job] = {}
        self._starts = False  # the engine reports when rows begin training (take_started)
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._lost: str | None = None
        self._results_at = 0.0  # when the batching thread last resolved finished jobs
        self._results_seq = 0  # how many times it did
        self._seen_seq = 0  # the last results batch a submission was timed against
        self._latency: float | None = None  # decaying max of the runtime's submission delay
        self._n_resolved = 0  # futures the batching thread resolved (since start)
        self._n_cancelled = 0  # futures stop_job cancelled before they were loaded
        self._hinted = (-1, 0)  # the last caught_up hint sent: (n_seen, submissions)
        self._n_submitted = 0
        self.timings = dict.fromkeys(("gather", "add", "step", "results"), 0.0)

    # ------------------------------------------------------------------ life cycle
    def start(self, objective: Any, n_workers: int) -> None:
        """Build the engine (capacity ``n_workers``) and start the batching thread. One search
        at a time: a :class:`SearchStateError` while another runs; after one's
        :meth:`shutdown`, its batching thread ends first (it reads its chunk in flight)."""
        _join_ended(self._thread, self._closed)
        # nothing of the last search (its last values, messages) reaches this one
        self._inbox, self._reports = queue.SimpleQueue(), queue.SimpleQueue()
        model = self.model if self.model is not None else objective
        if not callable(getattr(model, "engine", None)):
            raise InvalidTypeError(
                "the batched executor needs a model with engine(capacity) (an "
                "asha_nb.integrations.jax.BatchedModel or asha_nb.integrations.torch."
                "BatchedTorchModel): pass it as the search objective or as "
                f"BatchedExecutor(model=...); got {type(model).__name__}"
            )
        _check_model_options(model, self.engine_options)
        engine = model.engine(self._capacity(int(n_workers)), **self.engine_options)
        missing = missing_engine_members(engine)
        if missing:
            raise InvalidTypeError(
                f"{type(model).__name__}.engine() returned a {type(engine).__name__}, which is not "
                f"a batch engine: it lacks {', '.join(missing)} (the "
                "asha_nb.executors.batched.BatchEngine protocol needs "
                f"{', '.join(ENGINE_MEMBERS)})"
            )
        self.model = model
        self.engine = engine
        # an engine that reports when rows begin training: jobs queued behind the batch are
        # not "started" (nor timed out) before they train
        self._starts = self.reports_starts = callable(getattr(engine, "take_started", None))
        self.n_workers = int(n_workers)
        self.timings = dict.fromkeys(("gather", "add", "step", "results"), 0.0)
        self._lost = None
        self._n_resolved = self._n_cancelled = self._n_submitted = 0
        self._hinted = (-1, 0)
        self._closed.clear()
        self._hold = _HeapHold(self.freeze_gc)
        self._thread = threading.Thread(target=self._run, args=(self._hold,),
                                        name="asha-batched", daemon=True)
        self._thread.start()
        _end_at_exit(self)

    def submit(self, spec: JobSpec) -> RunningJob:
        """Queue ``spec`` for the next batch; never blocks."""
        if self._lost is not None:
            raise ExecutorLostError(self._lost)
        if self._thread is None or self._closed.is_set():
            raise SearchStateError("BatchedExecutor.submit() called before start() or after shutdown()")
        seq = self._results_seq
        if seq != self._seen_seq:  # the first submission after a batch of results: time it
            self._seen_seq = seq
            delay = time.perf_counter() - self._results_at
            self._latency = delay if self._latency is None else max(delay, 0.5 * self._latency)
        running = RunningJob(spec, cf.Future())
        self._n_submitted += 1
        self._inbox.put((_Msg.ADD, running))
        return running

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if not yet loaded, else drop its row at the next chunk boundary."""
        if running.future.cancel():
            self._n_cancelled += 1
        else:
            self._inbox.put((_Msg.STOP, running.spec.job_id))

    def caught_up(self, n_seen: int) -> None:
        """The runtime took in ``n_seen`` resolved futures and submitted all it has: once
        that covers every job the batching thread finished, it stops waiting for more."""
        hint = (n_seen, self._n_submitted)
        if hint != self._hinted:  # only when something changed since the last hint
            self._hinted = hint
            self._inbox.put((_Msg.CAUGHT_UP, n_seen))

    def drain_reports(self) -> list[IntermediateReport]:
        """Values of rows still training, at the end of each chunk."""
        out: list[IntermediateReport] = []
        while True:
            try:
                out.append(self._reports.get_nowait())
            except queue.Empty:
                return out

    def _capacity(self, n_workers: int) -> int:
        """Rows trained at once: ``batch_size``, at most ``n_workers``."""
        return n_workers if self.batch_size is None else min(self.batch_size, n_workers)

    def resize(self, n_workers: int) -> None:
        """Change the jobs in flight and with them the batch capacity (at most
        ``batch_size``; applied at the next chunk boundary)."""
        self.n_workers = int(n_workers)
        self._inbox.put((_Msg.RESIZE, self._capacity(int(n_workers))))

    def shutdown(self, wait: bool = False) -> None:
        """Stop the thread; queued and running jobs are cancelled/stopped. The heap freeze
        (``freeze_gc``) is undone now, not when the thread ends (after its chunk in flight)."""
        self._closed.set()
        self._inbox.put((_Msg.WAKE, None))
        self._hold.release()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    # ------------------------------------------------------------------ batching thread
    def _handle(self, engine: BatchEngine, kind: _Msg, payload: Any) -> int:
        """Apply one inbox message; returns 1 if a job was added."""
        if kind is _Msg.ADD:
            running: RunningJob = payload
            spec, fut = running.spec, running.future
            if not fut.set_running_or_notify_cancel():
                return 0
            t0 = time.perf_counter()
            try:
                ck = spec.checkpoint
                done = 0 if ck is None else int(ck.get("resource", 0))
                epochs = max(round(float(spec.resource)) - done, 0)
                engine.add(spec.job_id, spec.trial_id, spec.config, epochs, ck)
            except Exception:  # noqa: BLE001 - a bad config/checkpoint fails this job only
                self._n_resolved += 1
                fut.set_result(JobOutcome(error=traceback.format_exc()))
                return 0
            finally:
                self.timings["add"] += time.perf_counter() - t0
            if self._starts:  # timed from when its row enters a chunk (it may wait in a queue)
                self._jobs[spec.job_id] = _Job(running, None)
            else:
                running.started_at = time.monotonic()
                self._jobs[spec.job_id] = _Job(running, time.perf_counter())
            return 1
        if kind is _Msg.STOP:
            finishing = getattr(engine, "finishing", None)
            if callable(finishing) and finishing(payload):
                return 0  # its last chunk is in flight: the value it computes is kept
            entry = self._jobs.pop(payload, None)
            if entry is not None:
                engine.remove(payload)
                self._n_resolved += 1
                entry.running.future.set_result(entry.outcome(time.perf_counter(), stopped=True))
        elif kind is _Msg.RESIZE:
            engine.set_capacity(payload)
        return 0

    def _window(self) -> float:
        """Seconds to wait for the runtime's first submission after a batch of results."""
        if self._latency is None:
            return self.gather_window
        return min(self.gather_window, max(0.001, 2 * self._latency))

    def _gather(self, engine: BatchEngine, idle: bool, want: int) -> None:
        """Take inbox messages: when idle, block for the first job then gather for up to
        ``gather_window``; else wait up to the adaptive window for ``want`` new jobs. Either
        way, stop once the burst of submissions has paused (see ``gather_window``)."""
        added = 0
        now = time.perf_counter()
        window = self._window()
        gap = min(self.gather_window, max(0.0005, window / 4))
        deadline = None if idle else now + (window if want > 0 else 0.0)
        hard = None if idle else deadline  # no burst extends the wait beyond the window
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
            if kind is _Msg.CAUGHT_UP:
                # the runtime has reacted to every finished job: nothing more is coming now
                if payload >= self._n_resolved + self._n_cancelled and (
                        added or deadline is not None):
                    deadline = 0.0
                continue
            added += self._handle(engine, kind, payload)
            if deadline is None and added:
                hard = time.perf_counter() + self.gather_window
                want = self.n_workers
            if added and deadline != 0.0:
                assert hard is not None
                deadline = min(hard, time.perf_counter() + gap)

    def _fail_all(self, error: str) -> None:
        engine = self.engine
        for job_id, entry in list(self._jobs.items()):
            fut = entry.running.future
            if engine is not None:
                engine.remove(job_id)
            if not fut.done():
                self._n_resolved += 1
                fut.set_result(JobOutcome(error=error))
        self._jobs.clear()

    def _run(self, hold: _HeapHold) -> None:
        engine = self.engine
        assert engine is not None  # set by start() before the thread starts
        try:
            self._loop(engine)
        except BaseException as exc:  # noqa: BLE001 - a broken batching thread loses the executor
            self._lost = f"the batching thread stopped: {type(exc).__name__}: {exc}"
            self._closed.set()
            for entry in self._jobs.values():
                if not entry.running.future.done():
                    entry.running.future.set_exception(ExecutorLostError(self._lost))
            self._jobs.clear()
        self._drain_on_exit(engine)
        close = getattr(engine, "close", None)
        if callable(close):  # optional: an engine may free its batches (device memory)
            close()
        hold.release()

    def _loop(self, engine: BatchEngine) -> None:
        freed = self.n_workers
        timings = self.timings
        while not self._closed.is_set():
            t0 = time.perf_counter()
            # with jobs queued beyond the batch (batch_size < n_workers), the freed rows are
            # refilled from the queue: no waiting for the runtime's next submissions
            queued = engine.n_active >= self._capacity(self.n_workers)
            self._gather(engine, engine.n_active == 0, 0 if queued else freed)
            t1 = time.perf_counter()
            timings["gather"] += t1 - t0
            if self._closed.is_set():
                break
            if engine.n_active == 0:
                freed = self.n_workers
                continue
            try:
                finished = engine.step(self.max_chunk)
            except Exception:  # noqa: BLE001 - the batch's state is unknown: fail its jobs
                self._fail_all(traceback.format_exc())
                freed = self.n_workers
                continue
            freed = len(finished)
            if self._starts:
                self._mark_started(engine.take_started())  # type: ignore[attr-defined]
            now = time.perf_counter()
            timings["step"] += now - t1
            if finished:
                self._results_at = now
                self._results_seq += 1
            self._resolve(finished, now)
            for key, (resource, value) in engine.progress().items():
                job = self._jobs.get(key)
                if job is not None:
                    spec = job.running.spec
                    job.curve.append((resource, value))
                    self._reports.put(IntermediateReport(spec.job_id, spec.trial_id, resource, value))
            timings["results"] += time.perf_counter() - now

    def _resolve(self, finished: list[Finished], now: float) -> None:
        for f in finished:
            entry = self._jobs.pop(f.key, None)
            if entry is not None:
                self._n_resolved += 1
                entry.running.future.set_result(
                    entry.outcome(now, value=f.value, checkpoint=f.checkpoint))

    def _mark_started(self, started: Any) -> None:
        """Rows that began training (``(key, perf_counter time)`` from the engine): their jobs
        really started then (``RunningJob.started_at``, and their duration counts from it)."""
        mono, perf = time.monotonic(), time.perf_counter()
        for key, t in started:
            entry = self._jobs.get(key)
            if entry is not None and entry.t0 is None:
                entry.t0 = t
                entry.running.started_at = mono - (perf - t)

    def _drain_on_exit(self, engine: BatchEngine) -> None:
        """Shutdown: resolve the rows that finish in the chunks in flight (the engine's
        optional ``flush()``) with their values, stop the other jobs still in the batch,
        cancel the ones never loaded."""
        flush = getattr(engine, "flush", None)
        if callable(flush) and self._lost is None:
            try:
                self._resolve(flush(), time.perf_counter())
            except Exception:  # noqa: BLE001 - a failed chunk: its jobs are stopped below
                pass
        for entry in self._jobs.values():
            if not entry.running.future.done():
                entry.running.future.set_result(entry.outcome(time.perf_counter(), stopped=True))
        self._jobs.clear()
        while True:
            try:
                kind, payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            if kind is _Msg.ADD:
                payload.future.cancel()

    def __repr__(self) -> str:
        engine = "none" if self.engine is None else type(self.engine).__name__
        return f"BatchedExecutor(n_workers={self.n_workers}, engine={engine})"
