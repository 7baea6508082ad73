"""The JAX batch engine: slots, buckets, chunks (see :mod:`asha_nb.integrations.jax`)."""

from __future__ import annotations

import collections
import itertools
import math
import time
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..executors.batched import Finished, check_engine_options, whole_epochs
from ._jax_common import block_counts, bucket_sizes, eval_blocks, freeze, jax_module, pack_chunk
from ._jax_layout import _Chunk, _Group, _Layout, _Row
from ._jax_pool import DeviceCheckpoint

__all__ = ["JaxBatchEngine", "DeviceCheckpoint", "bucket_sizes"]


class JaxBatchEngine(_Layout):
    """Slot manager and runner of batched training for one :class:`BatchedModel`.

    Rows (jobs) are added with :meth:`add`, removed with :meth:`remove`, and :meth:`step`
    advances the static groups by one *chunk*: ``min(remaining epochs)`` over a group's rows, so
    every row either finishes in that chunk or keeps training, and no row trains past its
    target. Finished rows leave the batch and free their slot for the next :meth:`add`
    (continuous batching), so jobs of different lengths (rung 0 vs promotions) share a batch
    without padding epochs.

    Rows and checkpoints stay on the device, and each chunk is one compiled program: it
    initialises the new rows (a vmapped ``init``, run only when some row is new), gathers
    promoted rows from the group's *checkpoint pool* in device memory by index, trains,
    writes the rows that finish into the pool by index. A finished row's
    checkpoint is a :class:`DeviceCheckpoint`, a handle to its pool slot. Per chunk, only the
    values come to the host.

    Only the rows that finish in a chunk are evaluated (their value is the job's result): the
    chunk's program gathers them by index and evaluates them in a few blocks
    (:func:`~asha_nb.integrations._jax_common.eval_blocks`: an eighth of the batch, an eighth
    of that, ..., 1), no more rows than those and no more programs. Every row, the ones still training included, is evaluated (in the chunk's program)
    only when ``progress_interval`` seconds have passed since the group's last such
    evaluation; those values of the rows still training are the intermediate values that
    :meth:`progress` returns (learning curves). In an ASHA search chunks are short (rung-0
    jobs train one epoch), and with small models evaluating every row after every chunk
    costs more than the training.
    States reach host memory only when something needs them there: pickling a handle (the
    journal), reading its ``["state"]``, or *spilling*: the pool grows by doubling up to
    ``max_pool_bytes`` and then copies its oldest handles to host memory.

    :meth:`step` dispatches chunks before it reads the oldest chunk's values (JAX dispatch is
    asynchronous): up to ``pipeline_depth`` chunks of each static group are in flight, so the
    device trains the next chunk while the host turns the last one's values into outcomes and
    the runtime reacts to them, and with several groups one group's host work overlaps the
    others' device work. Which rows finish in a chunk is known when it is dispatched (their
    remaining epochs), so the next chunk trains the rows that go on, plus queued rows in the
    slots of the finishing ones; rows submitted meanwhile join the chunk after. A chunk
    dispatched behind one whose rows finish is at most as long as that one, so the rows the
    runtime sends in reply do not wait long. A chunk is dispatched behind another only when its
    live rows fill at least half of the rows it trains (whole ``train_block`` blocks): with one
    block of the whole batch (the default on accelerators) and few rows going on, the device
    would train mostly empty slots. Rows added beyond ``capacity`` wait in a queue (in order)
    and take the slots that free up.

    A chunk trains only its live rows, gathered live first, in ``ceil(live / train_block)``
    blocks of ``train_block`` rows (a loop in the program), then scattered back; the other
    slots keep their state. Every row trains in a batch of exactly ``train_block`` rows, so its
    results do not depend on the bucket, its slot or the other rows, bit for bit (XLA's CPU
    code rounds differently for different batch shapes): a promoted row continues exactly.

    Batch sizes are buckets (:func:`bucket_sizes`, multiples of ``train_block``); empty slots
    are masked (state kept, value ignored); each bucket a group uses is one more program. A group
    that needs more slots grows to the smallest compiled bucket that holds its rows, else to the
    largest bucket (the runtime keeps the batch full until the search's tail, so one program
    serves most of it). A group whose rows fit a smaller bucket moves there at once if that
    program is compiled; otherwise only when the smaller bucket clearly *pays* for its
    compilation: when the time the empty slots cost, already lost since the last resize plus
    still to come while the longest row finishes (the last epoch time at this size times the
    fraction of slots the smaller bucket saves), reaches ``compact_after`` seconds, by default
    twice the model's :meth:`~BatchedModel.compile_estimate` (both estimates are noisy, and a
    compilation that barely pays is not worth its risk; a ski-rental rule). The saving assumes
    an epoch costs in proportion to the bucket size, as on a CPU, where long tails at a low fill
    move to a smaller bucket and short ones stay; on an accelerator a smaller bucket saves less
    than that, so the rule errs towards compiling. With training in live blocks, a smaller
    bucket trains the same blocks, saves nothing, and is compiled only with ``compact_after=0``.

    Parameters
    ----------
    model
        The model.
    capacity
        Most rows trained at once (the executor's ``n_workers``).
    devices
        Devices to shard the configuration axis over (default: ``jax.local_devices()``).
    buckets
        Batch sizes (default ``bucket_sizes(capacity, train_block)``: ``train_block`` rows,
        twice that, ... up to the first that holds ``capacity``); each must be a multiple of
        ``train_block``.
    compact_after
        Seconds of empty-slot cost that pay for compiling a smaller bucket; ``None``: twice the
        model's compile estimate; ``0``: compact whenever the rows fit a smaller bucket (every
        bucket may compile); ``float("inf")``: only into buckets already compiled.
    pool_fraction
        Share of the devices' memory (``memory_stats()["bytes_limit"]``) the checkpoint pools
        may use, in ``(0, 1]``; ignored when ``max_pool_bytes`` is given.
    max_pool_bytes
        Cap in bytes of each static group's checkpoint pool (all devices together); ``None``:
        ``pool_fraction`` of the devices' memory, or 1 GiB on devices that report no memory
        (CPU). It must hold at least two full batches of rows.
    progress_interval
        Seconds between evaluations of every row of a static group, whose values of the rows
        still training :meth:`progress` returns (intermediate values); ``0``: every chunk
        (every row evaluated after every chunk, as before this option); ``None``: never (only
        the rows that finish are evaluated; no intermediate values). Default 1 s.
    pipeline_depth
        Chunks of a static group in flight at once (``>= 1``); ``1``: each :meth:`step`
        dispatches one chunk and reads it, the device idles while the host works. Default 2.
    train_block
        Rows per training block, a multiple of ``len(devices)`` fixed for the engine's life.
        ``None``: :func:`~asha_nb.integrations._jax_common.default_train_block`: on CPU devices
        16 rows per device, or an eighth of the largest bucket if smaller (at least a row per
        device); on accelerators (GPU, TPU: empty rows cost little, large batches make them
        fast) the largest bucket, then the only one. A row's bits depend on its block size:
        engines with different blocks may differ in the last bits.
    clock
        Monotonic clock in seconds (``time.perf_counter``); tests inject a fake one.

    Attributes
    ----------
    train_block : int
        Rows per training block (the argument, or the default it chose).
    n_chunks : int
        Chunks run so far.
    epochs_trained : int
        Model-epochs trained by live rows (padding excluded).
    slot_epochs : int
        Row-epochs the chunks' programs trained, empty slots included: blocks trained x
        ``train_block`` x epochs (each chunk trains its live rows in whole blocks, so at most
        ``train_block - 1`` empty slots per chunk).
    rows_to_host : int
        Row states copied from the device to host memory (handles read, pickled or spilled);
        the values of each chunk are not counted.
    rows_from_host : int
        Row states copied from host memory to the device (checkpoints not made by this engine).
    rows_spilled : int
        Handles spilled to host memory because a pool was full.
    rows_evaluated : int
        Rows the evaluation ran over (padding of the batch or of the finished rows' bucket
        included).
    full_evaluations : int
        Chunks that evaluated every row (see ``progress_interval``; also those where every row
        finished).
    host_seconds : float
        Seconds :meth:`step` spent on the host (laying out, launching, turning values into
        outcomes), i.e. not waiting for the device.
    wait_seconds : float
        Seconds :meth:`step` waited for chunks' values (the device's work, where dispatch is
        asynchronous).
    """

    def __init__(
        self,
        model: Any,  # a BatchedModel (which imports this module, not the reverse)
        capacity: int,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
        compact_after: float | None = None,
        pool_fraction: float = 0.5,
        max_pool_bytes: int | None = None,
        progress_interval: float | None = 1.0,
        train_block: int | None = None,
        pipeline_depth: int = 2,
        clock: Callable[[], float] = time.perf_counter,
    ):
        jax_module()  # a clear error if JAX is missing, before the import below
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise InvalidParameterError(f"capacity must be an int >= 1, got {capacity!r}")
        check_engine_options({
            "compact_after": compact_after, "pool_fraction": pool_fraction,
            "max_pool_bytes": max_pool_bytes, "progress_interval": progress_interval,
            "pipeline_depth": pipeline_depth, "devices": devices})
        self.progress_interval = None if progress_interval is None else float(progress_interval)
        self.pipeline_depth = int(pipeline_depth)
        self.model = model
        self.devices = self._resolve_devices(devices)
        self.mesh = Mesh(np.array(self.devices), ("k",))
        self._rows_sharding = NamedSharding(self.mesh, PartitionSpec("k"))
        self._data = model.device_data(NamedSharding(self.mesh, PartitionSpec()))
        self._fixed_buckets = buckets is not None
        self.capacity = int(capacity)
        self.train_block, self.buckets = self._blocks_and_buckets(train_block, buckets)
        self.compact_after = compact_after
        self.pool_fraction = float(pool_fraction)
        self.max_pool_bytes = None if max_pool_bytes is None else int(max_pool_bytes)
        self._clock = clock
        self._groups: dict[Hashable, _Group] = {}
        self._where: dict[Hashable, _Group] = {}  # row key -> group
        self._rr = itertools.count()
        self._inflight: collections.deque[_Chunk] = collections.deque()
        self._last_values: dict[Hashable, tuple[int, float]] = {}
        self._last_done = -math.inf  # clock time the last chunk's values were read
        self._started: list[tuple[Hashable, float]] = []  # see take_started
        self._used: set[int] = set()
        self.n_chunks = 0
        self.epochs_trained = 0
        self.slot_epochs = 0
        self.rows_to_host = 0
        self.rows_from_host = 0
        self.rows_spilled = 0
        self.rows_evaluated = 0
        self.full_evaluations = 0
        self.host_seconds = 0.0
        self.wait_seconds = 0.0

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity (adds larger buckets if needed; multiples of ``train_block``,
        which stays)."""
        if capacity < 1:
            raise InvalidParameterError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        if not self._fixed_buckets or max(self.buckets) < capacity:
            self.buckets = tuple(sorted(set(self.buckets) | set(
                bucket_sizes(self.capacity, self.train_block))))

    # ------------------------------------------------------------------ rows
    @property
    def n_active(self) -> int:
        """Rows added and not yet finished or removed."""
        return len(self._where)

    def add(
        self,
        key: Hashable,
        trial_id: int,
        config: Mapping[str, Any],
        epochs: float,
        checkpoint: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a job: train ``config`` ``epochs`` more epochs from ``checkpoint`` (or scratch).

        ``checkpoint`` is a :class:`DeviceCheckpoint` (gathered on the device when this engine
        made it) or a dict ``{"state", "resource", "trial_id"}`` with a host state.
        """
        if key in self._where:
            raise InvalidParameterError(f"key must be new to the engine, got {key!r} twice")
        dyn, static = self.model.split(config)
        sig = freeze(static)
        n = whole_epochs(epochs, "epochs")
        group = self._groups.get(sig)
        if group is None:
            group = self._groups[sig] = self._new_group(sig, dict(static))
        if checkpoint is None:
            row = _Row(key, int(trial_id), dyn, n, 0, fresh=True)
        else:
            row = _Row(key, int(checkpoint.get("trial_id", trial_id)), dyn, n,
                       int(checkpoint.get("resource", 0)))
            if (isinstance(checkpoint, DeviceCheckpoint) and checkpoint._pool is group.pool
                    and checkpoint.on_device):
                row.handle = checkpoint
            else:
                row.host_state = checkpoint["state"]
        group.pending.append(row)
        self._where[key] = group

    def remove(self, key: Hashable) -> bool:
        """Drop a row (a stopped job). Returns whether it was there."""
        group = self._where.pop(key, None)
        if group is None:
            return False
        group.pending = [r for r in group.pending if r.key != key]
        for i, r in enumerate(group.rows):
            if r is not None and r.key == key:
                group.rows[i] = None
                group.active_host[i] = False
        return True

    # ------------------------------------------------------------------ running
    def _dispatch(self, group: _Group, max_epochs: int | None) -> bool:
        """Lay out and launch one chunk of ``group`` (asynchronously); whether one was."""
        self._layout(group)
        pool = group.pool
        assert pool is not None
        rows = group.rows
        live = [(i, r) for i, r in enumerate(rows) if r is not None]
        if not live:
            return False
        if group.inflight and 2 * len(live) < self._trained_rows(len(rows), len(live))[1]:
            # behind a chunk in flight, a chunk whose blocks would be mostly empty slots costs
            # the device more than it saves: the rows the runtime sends next join it instead
            return False
        n = min(r.remaining for _, r in live)
        if max_epochs is not None:
            n = min(n, max(1, int(max_epochs)))
        if group.inflight and group.ahead[1]:
            # rows finish at the end of the chunk ahead: their replacements join the chunk
            # after this one, which starts no later than the chunk ahead took
            n = min(n, group.ahead[0])
        finishing = [(i, r) for i, r in live if r.remaining <= n]
        going = [(i, r) for i, r in live if r.remaining > n]
        pinned = set(group.src[group.load].tolist()) if group.load.any() else set()
        pinned |= {r.handle._slot for r in group.pending if r.handle is not None}
        slots = pool.alloc(len(finishing), pinned)  # may grow the pool: before the program
        size = len(rows)
        dst = np.full(size, pool.size, np.int32)
        order = np.empty(size, np.int32)  # finishing rows, then the others, then empty slots
        nf = len(finishing)
        if finishing:
            done_at = [i for i, _ in finishing]
            dst[done_at] = slots
            order[:nf] = done_at
        order[nf:len(live)] = [i for i, _ in going]
        order[len(live):] = np.flatnonzero(~group.active_host)
        branch, m = self._trained_rows(size, len(live))
        program = self._program(group, size)
        t0 = self._clock()
        report = (self.progress_interval is not None and going
                  and t0 - group.last_full >= self.progress_interval)
        if report:
            group.last_full = t0
        full = bool(report) or nf == size
        if full:
            self.rows_evaluated += size
            self.full_evaluations += 1
        else:
            self.rows_evaluated += nf
        counts = block_counts(0 if full else nf, eval_blocks(size))
        idx, meta = pack_chunk(group.src, group.tids, dst, order, group.load, group.take_new,
                               n, full, branch, counts,
                               [group.dyn_host[k] for k in self.model.dynamic])
        t_start = time.perf_counter()
        for _, r in live:
            if not r.started:  # its first chunk: the job begins training now
                r.started = True
                self._started.append((r.key, t_start))
        with pool.lock:  # idx and meta: the chunk's only host-to-device copies
            state, pool.arrays, values = program(group.state, pool.arrays, self._data, idx, meta)
        group.state = state
        group.load[:] = False
        group.take_new[:] = False
        pool.free.extend(group.temp)  # read by the program just launched
        group.temp = []
        for _, r in live:
            r.remaining -= n
            r.trained += n
            r.resource += n
        done = [(i, r, slot) for (i, r), slot in zip(finishing, slots)]
        for i, _ in finishing:
            rows[i] = None
            group.active_host[i] = False
        self.slot_epochs += m * n
        self.epochs_trained += n * len(live)
        group.inflight += 1
        group.ahead = (n, bool(finishing))
        reached = [(i, r, r.resource) for i, r in going]  # a later chunk trains them further
        self._inflight.append(_Chunk(group, size, m, n, t0, values, done, reached, full,
                                     bool(report)))
        self.n_chunks += 1
        self._used.add(len(rows))
        return True

    def _resolve(self, chunk: _Chunk) -> list[Finished]:
        """Read a chunk's values; turn its finished rows into :class:`Finished` outcomes."""
        t_wait = time.perf_counter()
        values = np.asarray(chunk.values)  # waits for the chunk
        self.wait_seconds += time.perf_counter() - t_wait
        now = self._clock()
        # the device ran this chunk after the one before it (chunks queue up in order)
        seconds = now - max(chunk.t0, self._last_done)
        self._last_done = now
        group = chunk.group
        group.inflight -= 1
        if chunk.n:  # a chunk of 0 epochs (rows already at their resource) times no epoch
            group.epoch_seconds[chunk.size] = seconds / chunk.n
        pool = group.pool
        assert pool is not None
        out: list[Finished] = []
        for k, (i, r, slot) in enumerate(chunk.done):
            if self._where.pop(r.key, None) is None:  # removed while in flight
                pool.free.append(slot)
                continue
            handle = DeviceCheckpoint(pool, slot, r.resource, r.trial_id)
            pool.handles[slot] = weakref.ref(handle)
            value = values[i] if chunk.full else values[k]
            out.append(Finished(r.key, r.trial_id, float(value), handle, r.trained))
        n_left = group.n_live()
        if n_left and self._fit(n_left) < chunk.size:  # what a smaller bucket would have saved
            group.waste += seconds * self._saved(chunk.size, self._fit(n_left), n_left)
        self._last_values = ({r.key: (res, float(values[i])) for i, r, res in chunk.going}
                             if chunk.report else {})
        return out

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Run one chunk; return the rows that finished.

        Adds its time to :attr:`host_seconds`, less the time spent waiting for the device.

        Launches chunks of every static group with rows until it has ``pipeline_depth``
        chunks in flight (groups take turns at going first), then waits for the oldest chunk
        in flight and returns its finished rows; with ``pipeline_depth=1`` and one group,
        that is the chunk just launched.

        Parameters
        ----------
        max_epochs
            Cap on the chunk length (smaller chunks let new rows join sooner).
        """
        t0 = time.perf_counter()
        wait = self.wait_seconds
        try:
            groups = [g for g in self._groups.values()
                      if g.n_live() and g.inflight < self.pipeline_depth]
            if groups:
                first = next(self._rr) % len(groups)
                for group in groups[first:] + groups[:first]:
                    while (group.inflight < self.pipeline_depth and group.n_live()
                           and self._dispatch(group, max_epochs)):
                        pass
            if not self._inflight:
                return []
            return self._resolve(self._inflight.popleft())
        finally:
            self.host_seconds += time.perf_counter() - t0 - (self.wait_seconds - wait)

    def finishing(self, key: Hashable) -> bool:
        """Whether ``key``'s row finishes in a chunk in flight (dispatched, not yet read):
        the executor keeps the value it computes rather than removing the row on a stop."""
        group = self._where.get(key)
        return group is not None and not any(r.key == key for r in group.pending) and not any(
            r is not None and r.key == key for r in group.rows)

    def flush(self) -> list[Finished]:
        """Read every chunk in flight, dispatching none; return the rows that finished (the
        executor's shutdown keeps their values)."""
        out: list[Finished] = []
        while self._inflight:
            out.extend(self._resolve(self._inflight.popleft()))
        return out

    def take_started(self) -> list[tuple[Hashable, float]]:
        """``(key, time.perf_counter())`` of the rows whose first chunk was dispatched since
        the last call (rows added beyond ``capacity`` wait in the queue until then); the
        executor times its jobs from these (``RunningJob.started_at``)."""
        out, self._started = self._started, []
        return out

    def progress(self) -> dict[Hashable, tuple[int, float]]:
        """``key -> (resource, value)`` of the rows still training, evaluated by the chunk the
        last :meth:`step` read; empty when that chunk did not evaluate every row (at most one
        chunk per ``progress_interval`` seconds and static group does, so each value is
        reported once, as of the last full evaluation)."""
        return {k: v for k, v in self._last_values.items() if k in self._where}

    def run(self) -> list[Finished]:
        """Step until every row has finished; return them all."""
        out: list[Finished] = []
        while self.n_active or self._inflight:
            out.extend(self.step())
        return out

    def close(self) -> None:
        """Drop every row and the batches' device states (the executor calls it when it stops).

        The checkpoint pools stay as long as handles to them live (the search keeps its trials'
        latest checkpoints).
        """
        self._inflight.clear()
        self._where.clear()
        for group in self._groups.values():
            group.rows, group.pending, group.state, group.inflight = [], [], None, 0
            group.active_host = np.zeros(0, np.bool_)

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: chunks, epochs (of live rows, and of rows trained: ``slot_epochs``),
        host/wait seconds, rows copied to/from the host, spilled, rows evaluated, full
        evaluations, pool rows (allocated, in use). Read it between steps (it frees the slots of
        dead handles, which only the engine's thread may do)."""
        pools = {sig: g.pool for sig, g in self._groups.items() if g.pool is not None}
        for p in pools.values():
            p.collect()
        return {"n_chunks": self.n_chunks, "epochs_trained": self.epochs_trained,
                "slot_epochs": self.slot_epochs,
                "host_seconds": self.host_seconds, "wait_seconds": self.wait_seconds,
                "rows_to_host": self.rows_to_host, "rows_from_host": self.rows_from_host,
                "rows_spilled": self.rows_spilled, "rows_evaluated": self.rows_evaluated,
                "full_evaluations": self.full_evaluations,
                "pool_rows": {sig: p.size for sig, p in pools.items()},
                "pool_used": {sig: p.n_used for sig, p in pools.items()}}
