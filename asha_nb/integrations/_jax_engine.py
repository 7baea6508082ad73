"""The JAX batch engine: slots, buckets, compaction (see :mod:`asha_nb.integrations.jax`)."""

from __future__ import annotations

import collections
import itertools
import math
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..executors.batched import Finished, whole_epochs
from ._jax_model import BatchedModel, block_counts, eval_blocks, freeze, jax_module

__all__ = ["JaxBatchEngine", "DeviceCheckpoint", "bucket_sizes"]


def bucket_sizes(capacity: int, n_devices: int = 1) -> tuple[int, ...]:
    """Batch sizes a group may use: ``n_devices * 2**j`` up to the first one ``>= capacity``.

    Parameters
    ----------
    capacity
        Largest number of configurations trained at once (the executor's ``n_workers``).
    n_devices
        Devices the configuration axis is sharded over; every bucket is a multiple of it.

    Examples
    --------
    >>> bucket_sizes(64, 4)
    (4, 8, 16, 32, 64)
    >>> bucket_sizes(20, 1)
    (1, 2, 4, 8, 16, 32)
    """
    if capacity < 1:
        raise InvalidParameterError(f"capacity must be >= 1, got {capacity!r}")
    if n_devices < 1:
        raise InvalidParameterError(f"n_devices must be >= 1, got {n_devices!r}")
    sizes = [n_devices]
    while sizes[-1] < capacity:
        sizes.append(sizes[-1] * 2)
    return tuple(sizes)


#: Bytes of state a pool starts with (at least 4, at most 64 full batches of rows).
_FIRST_POOL_BYTES = 16 << 20
#: Cap of a pool on devices that report no memory (CPU), when ``max_pool_bytes`` is not given.
_DEFAULT_POOL_BYTES = 1 << 30


class DeviceCheckpoint(Mapping[str, Any]):
    """A finished row's checkpoint, kept in its engine's device pool (a *handle*).

    What :class:`JaxBatchEngine` returns as a job's checkpoint. It reads like the dict
    checkpoint of the unbatched path, ``{"state", "resource", "trial_id"}``: ``resource`` and
    ``trial_id`` are plain attributes; reading ``["state"]`` copies the row to host memory (a
    pytree of numpy arrays). Given back to the engine that made it (a promoted job), the row is
    gathered into the batch on the device, without a host round trip. Pickling (the journal,
    a process pool) stores the dict form, so a journal written with handles resumes with any
    executor. The pool slot is freed when the handle is garbage-collected (the runtime keeps
    only the latest checkpoint of a trial) or *spilled* to host memory when the pool is full
    (the oldest first); a spilled handle keeps working from its host copy.

    Attributes
    ----------
    resource : int
        Epochs the state has been trained for.
    trial_id : int
        The trial the row belongs to.
    """

    __slots__ = ("_pool", "_slot", "_host", "_finalizer", "resource", "trial_id", "__weakref__")

    def __init__(self, pool: _Pool, slot: int, resource: int, trial_id: int):
        self._pool = pool
        self._slot = slot
        self._host: Any = None
        self.resource = int(resource)
        self.trial_id = int(trial_id)
        self._finalizer = weakref.finalize(self, pool.release, slot)

    @property
    def on_device(self) -> bool:
        """Whether the state is still in the device pool (not spilled to host memory)."""
        return self._host is None

    def state(self) -> Any:
        """The state as a pytree of numpy arrays (a copy of the row, read from the device)."""
        pool = self._pool
        with pool.lock:
            if self._host is not None:
                return self._host
            rows = pool.take([self._slot])
        return pool.to_host(rows, 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """``{"state", "resource", "trial_id"}`` with the state in host memory."""
        return {"state": self.state(), "resource": self.resource, "trial_id": self.trial_id}

    def __getitem__(self, key: str) -> Any:
        if key == "state":
            return self.state()
        if key == "resource":
            return self.resource
        if key == "trial_id":
            return self.trial_id
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("state", "resource", "trial_id"))

    def __len__(self) -> int:
        return 3

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self.to_dict(),))

    def __repr__(self) -> str:
        where = "device" if self.on_device else "host"
        return f"DeviceCheckpoint(trial_id={self.trial_id}, resource={self.resource}, on {where})"


class _Pool:
    """The device checkpoint pool of one static group: rows with a leading axis ``size``.

    Slots are handed to finishing rows (their :class:`DeviceCheckpoint`), to rows moved
    during a resize, and come back when a handle dies (``release``, from any thread) or is
    spilled. Grows by doubling up to ``max_rows``; beyond, the oldest handles are spilled to
    host memory.
    """

    def __init__(self, engine: JaxBatchEngine, group: _Group, row_bytes: int, max_rows: int):
        self.engine = engine
        self.group = group
        self.row_bytes = row_bytes
        self.max_rows = max_rows
        self.lock = threading.Lock()
        self.arrays: Any = None
        self.size = 0
        self.free: list[int] = []
        self.handles: dict[int, weakref.ref[DeviceCheckpoint]] = {}  # slot -> handle, oldest first
        self._released: collections.deque[int] = collections.deque()

    # any thread ------------------------------------------------------------
    def release(self, slot: int) -> None:
        """A handle died: its slot is free at the next :meth:`collect`."""
        self._released.append(slot)

    def take(self, slots: Sequence[int]) -> Any:
        """Dispatch a read of ``slots`` (call under ``lock``); :meth:`to_host` finishes it."""
        eng = self.engine
        fn = eng.model.take_program(self.group.static, self.size, eng.mesh)
        return fn(self.arrays, slots)

    def to_host(self, rows: Any, n: int) -> list[Any]:
        """The first ``n`` rows of a :meth:`take` as numpy pytrees."""
        jax = jax_module()
        host = jax.device_get(rows)
        self.engine.rows_to_host += n
        return [jax.tree.map(lambda a, i=i: np.array(a[i]), host) for i in range(n)]

    # the engine's thread ---------------------------------------------------
    def collect(self) -> None:
        while self._released:
            slot = self._released.popleft()
            self.handles.pop(slot, None)
            self.free.append(slot)

    @property
    def n_used(self) -> int:
        """Slots held by handles (after the last :meth:`collect`)."""
        return len(self.handles)

    def _resize(self, new_size: int) -> None:
        eng = self.engine
        jax = jax_module()
        with self.lock:
            if self.size == 0:  # zeros from the host: nothing to compile
                self.arrays = jax.device_put(
                    jax.tree.map(lambda t: np.zeros((new_size, *t.shape), t.dtype),
                                 eng.model.template(self.group.static)), eng._rows_sharding)
            else:
                fn = eng.model.grow_program(self.group.static, self.size, new_size, eng.mesh)
                self.arrays = fn(self.arrays)
        self.free.extend(range(new_size - 1, self.size - 1, -1))
        self.size = new_size

    def alloc(self, n: int, pinned: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """``n`` free slots: growing the pool, else spilling the oldest handles not ``pinned``."""
        self.collect()
        nd = len(self.engine.devices)
        if (len(self.free) < n or self.size == 0) and self.size < self.max_rows:
            batch = max(self.engine.buckets)
            first = max(4 * batch, min(_FIRST_POOL_BYTES // max(self.row_bytes, 1), 64 * batch))
            want = max(2 * self.size, self.size + n - len(self.free), first if self.size == 0 else 0)
            want = -(-want // nd) * nd
            self._resize(min(want, self.max_rows))
        if len(self.free) < n:
            victims = [s for s in self.handles if s not in pinned][: n - len(self.free)]
            self.spill(victims)
        if len(self.free) < n:
            raise InvalidParameterError(
                f"max_pool_bytes must hold the rows in flight: {n} more rows of "
                f"{self.row_bytes} bytes do not fit a pool of {self.size} rows")
        if n == 0:
            return []
        out = self.free[-n:]
        del self.free[-n:]
        return out

    def spill(self, slots: Sequence[int]) -> None:
        """Copy the handles of ``slots`` to host memory and free the slots."""
        if not slots:
            return
        with self.lock:
            rows = self.to_host(self.take(slots), len(slots))
            for slot, row in zip(slots, rows):
                ref = self.handles.pop(slot)
                handle = ref()
                if handle is not None:
                    handle._finalizer.detach()
                    handle._host = row
                self.free.append(slot)
        self.engine.rows_spilled += len(slots)


@dataclass(eq=False)
class _Row:
    key: Hashable
    trial_id: int
    dyn: dict[str, float]
    remaining: int
    resource: int  # epochs the state has (checkpoint's + trained so far)
    trained: int = 0
    handle: DeviceCheckpoint | None = None  # this engine's checkpoint to gather, until loaded
    host_state: Any = None  # host checkpoint to load, until loaded
    fresh: bool = False  # needs a new initial state


@dataclass(eq=False)
class _Group:
    sig: Hashable
    static: dict[str, Any]
    rows: list[_Row | None] = field(default_factory=list)  # slot -> row
    state: Any = None  # device pytree with leading axis len(rows)
    pool: _Pool | None = None
    pending: list[_Row] = field(default_factory=list)
    waste: float = 0.0  # estimated seconds lost to empty slots since the last resize
    epoch_seconds: dict[int, float] = field(default_factory=dict)  # bucket -> last epoch time
    dyn_host: dict[str, np.ndarray] = field(default_factory=dict)
    active_host: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    dyn_dev: Any = None  # device copy, None when stale
    busy: bool = False  # a chunk is in flight
    # what the next chunk loads: pool slots (src/load), new states (new/take_new), on the host
    src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    load: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    take_new: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    tids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # of new rows
    temp: list[int] = field(default_factory=list)  # pool slots to free once the chunk is out
    last_full: float = -math.inf  # clock time of the last chunk that evaluated every row

    def n_live(self) -> int:
        return sum(r is not None for r in self.rows) + len(self.pending)

    def remaining(self) -> int:
        """Epochs until the longest row finishes (the group runs at least that long)."""
        return max([r.remaining for r in self.rows if r is not None]
                   + [r.remaining for r in self.pending], default=0)


@dataclass(eq=False)
class _Chunk:
    """A dispatched chunk whose values have not been read yet."""

    group: _Group
    size: int
    n: int
    t0: float
    values: Any  # device array: by batch slot (full), else ``done``'s rows in order
    done: list[tuple[int, _Row, int]]  # (batch slot, row, pool slot)
    going: list[tuple[int, _Row]]  # rows that keep training
    full: bool  # every row was evaluated
    report: bool  # ... for the progress: the values of ``going`` are reported


class JaxBatchEngine:
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
    (:func:`~asha_nb.integrations._jax_model.eval_blocks`: an eighth of the batch, an eighth
    of that, ..., 1), no more rows than those and no more programs. Every row, the ones still training included, is evaluated (in the chunk's program)
    only when ``progress_interval`` seconds have passed since the group's last such
    evaluation; those values of the rows still training are the intermediate values that
    :meth:`progress` returns (learning curves). In an ASHA search chunks are short (rung-0
    jobs train one epoch), and with small models evaluating every row after every chunk
    costs more than the training.
    States reach host memory only when something needs them there: pickling a handle (the
    journal), reading its ``["state"]``, or *spilling*: the pool grows by doubling up to
    ``max_pool_bytes`` and then copies its oldest handles to host memory.

    :meth:`step` dispatches a chunk of every static group that has no chunk in flight before
    it reads the oldest chunk's values, so with several groups one group's host work overlaps
    the others' device work (JAX dispatch is asynchronous).

    Batch sizes are buckets (:func:`bucket_sizes`); empty slots are masked (their state is kept,
    their value ignored), and each bucket a group uses is one more compiled program. A group
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
    than that, so the rule errs towards compiling.

    Parameters
    ----------
    model
        The model.
    capacity
        Most rows trained at once (the executor's ``n_workers``).
    devices
        Devices to shard the configuration axis over (default: ``jax.local_devices()``).
    buckets
        Batch sizes (default ``bucket_sizes(capacity, len(devices))``); each must be a multiple
        of ``len(devices)``.
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
    clock
        Monotonic clock in seconds (``time.perf_counter``); tests inject a fake one.

    Attributes
    ----------
    n_chunks : int
        Chunks run so far.
    epochs_trained : int
        Model-epochs trained by live rows (padding excluded).
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
        model: BatchedModel,
        capacity: int,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
        compact_after: float | None = None,
        pool_fraction: float = 0.5,
        max_pool_bytes: int | None = None,
        progress_interval: float | None = 1.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        jax = jax_module()
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise InvalidParameterError(f"capacity must be an int >= 1, got {capacity!r}")
        if compact_after is not None and not compact_after >= 0:
            raise InvalidParameterError(
                f"compact_after must be None or >= 0 seconds, got {compact_after!r}")
        if not 0 < pool_fraction <= 1:
            raise InvalidParameterError(f"pool_fraction must be in (0, 1], got {pool_fraction!r}")
        if max_pool_bytes is not None and (
                not isinstance(max_pool_bytes, (int, np.integer)) or max_pool_bytes < 1):
            raise InvalidParameterError(
                f"max_pool_bytes must be None or an int >= 1, got {max_pool_bytes!r}")
        if progress_interval is not None and not (
                isinstance(progress_interval, (int, float, np.integer, np.floating))
                and not isinstance(progress_interval, bool) and progress_interval >= 0):
            raise InvalidParameterError(
                f"progress_interval must be None or >= 0 seconds, got {progress_interval!r}")
        self.progress_interval = None if progress_interval is None else float(progress_interval)
        self.model = model
        self.devices = list(devices) if devices is not None else list(jax.local_devices())
        self.mesh = Mesh(np.array(self.devices), ("k",))
        self._rows_sharding = NamedSharding(self.mesh, PartitionSpec("k"))
        self._data = model.device_data(NamedSharding(self.mesh, PartitionSpec()))
        self._fixed_buckets = buckets is not None
        self.capacity = int(capacity)
        self.buckets = self._check_buckets(
            tuple(buckets) if buckets is not None else bucket_sizes(self.capacity, len(self.devices)))
        self.compact_after = compact_after
        self.pool_fraction = float(pool_fraction)
        self.max_pool_bytes = None if max_pool_bytes is None else int(max_pool_bytes)
        self._clock = clock
        self._groups: dict[Hashable, _Group] = {}
        self._where: dict[Hashable, _Group] = {}  # row key -> group
        self._rr = itertools.count()
        self._inflight: collections.deque[_Chunk] = collections.deque()
        self._last_values: dict[Hashable, tuple[int, float]] = {}
        self._used: set[int] = set()
        self.n_chunks = 0
        self.epochs_trained = 0
        self.rows_to_host = 0
        self.rows_from_host = 0
        self.rows_spilled = 0
        self.rows_evaluated = 0
        self.full_evaluations = 0
        self.host_seconds = 0.0
        self.wait_seconds = 0.0

    def _check_buckets(self, buckets: tuple[int, ...]) -> tuple[int, ...]:
        nd = len(self.devices)
        if not buckets or any(int(b) < 1 or int(b) % nd for b in buckets):
            raise InvalidParameterError(
                f"buckets must be positive multiples of the device count {nd}, got {buckets!r}")
        if max(buckets) < self.capacity:
            raise InvalidParameterError(
                f"buckets must include one >= capacity={self.capacity}, got {buckets!r}")
        return tuple(sorted({int(b) for b in buckets}))

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity (adds larger buckets if needed)."""
        if capacity < 1:
            raise InvalidParameterError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        if not self._fixed_buckets or max(self.buckets) < capacity:
            self.buckets = tuple(sorted(set(self.buckets) | set(
                bucket_sizes(self.capacity, len(self.devices)))))

    def pool_bytes(self) -> int:
        """The byte cap of each group's checkpoint pool (see ``max_pool_bytes``)."""
        if self.max_pool_bytes is not None:
            return self.max_pool_bytes
        limits = []
        for d in self.devices:
            try:
                stats = d.memory_stats()
            except Exception:  # noqa: BLE001 - backends without memory stats (CPU)
                stats = None
            if not stats or "bytes_limit" not in stats:
                return _DEFAULT_POOL_BYTES
            limits.append(int(stats["bytes_limit"]))
        return int(self.pool_fraction * sum(limits))

    def _new_group(self, sig: Hashable, static: dict[str, Any]) -> _Group:
        group = _Group(sig, static)
        leaves = jax_module().tree.leaves(self.model.template(static))
        row_bytes = sum(int(np.prod(t.shape, dtype=np.int64)) * np.dtype(t.dtype).itemsize
                        for t in leaves)
        nd = len(self.devices)
        cap = self.pool_bytes()
        max_rows = (cap // max(row_bytes, 1)) // nd * nd
        need = 2 * max(self.buckets)
        if max_rows < need:
            raise InvalidParameterError(
                f"max_pool_bytes must hold two full batches ({need} rows of {row_bytes} bytes "
                f"= {need * row_bytes} bytes) of static group {dict(static)}, got {cap}")
        group.pool = _Pool(self, group, row_bytes, max_rows)
        return group

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

    # ------------------------------------------------------------------ layout
    def _ready(self, group: _Group, size: int) -> bool:
        pool = group.pool
        assert pool is not None
        return self.model.is_compiled(self.model.batch_key(group.sig, size, self.mesh, pool.size))

    def _fit(self, n_live: int) -> int:
        return next((b for b in self.buckets if b >= n_live), self.buckets[-1])

    def _target_size(self, group: _Group) -> int:
        """The bucket the group's next chunk runs in (see the class docstring)."""
        n_live, size = group.n_live(), len(group.rows)
        fit = self._fit(n_live)
        if n_live > size:
            ready = [b for b in self.buckets if b >= n_live and self._ready(group, b)]
            return ready[0] if ready else self.buckets[-1]
        if fit < size:
            ready = [b for b in self.buckets if fit <= b < size and self._ready(group, b)]
            if ready and ready[0] == fit:
                return fit
            epoch = group.epoch_seconds.get(size, 0.0)
            to_come = epoch * (1 - fit / size) * group.remaining()
            threshold = (2 * self.model.compile_estimate() if self.compact_after is None
                         else self.compact_after)
            if group.waste + to_come >= threshold:
                return fit
            if ready:
                return ready[0]
        return size

    def _program(self, group: _Group, size: int) -> Any:
        """The batched program of ``group`` for ``size`` rows (and its pool's current size)."""
        pool = group.pool
        assert pool is not None
        return self.model.batch_program(group.static, size, pool.size, self.mesh)

    def _put(self, tree: Any) -> Any:
        """``tree`` on the devices, row-sharded (copied first: CPU buffers may be aliased)."""
        jax = jax_module()
        return jax.device_put(jax.tree.map(np.array, tree), self._rows_sharding)

    def _store(self, group: _Group, state: Any, dst: np.ndarray) -> None:
        pool = group.pool
        assert pool is not None
        fn = self.model.store_program(group.static, len(dst), pool.size, self.mesh)
        with pool.lock:
            pool.arrays = fn(pool.arrays, state, self._put(dst))

    def _layout(self, group: _Group) -> None:
        """Place pending rows in free slots and resize if worth it.

        Only host arrays of indices and masks change here; the chunk's program does the rest
        on the device. Live rows of a resized batch go through the pool (stored by a chunk of 0
        epochs at the old size, gathered by the next chunk); only rows with a host checkpoint
        (another engine's, a resumed journal's) are copied from the host (into pool slots).
        """
        jax = jax_module()
        pool = group.pool
        assert pool is not None
        pool.alloc(0)  # the pool exists before anything is gathered from it
        size = len(group.rows)
        new_size = self._target_size(group)
        first = group.state is None
        if not group.pending and new_size == size:
            return
        if group.n_live() > new_size:
            raise InvalidParameterError(
                f"capacity must cover the rows: {group.n_live()} rows exceed the largest "
                f"bucket {new_size}")
        pinned = {r.handle._slot for r in group.pending if r.handle is not None}
        moved: list[tuple[int, int]] = []  # (new batch slot, pool slot) of rows kept on resize
        if new_size == size and not first:
            rows = list(group.rows)
        else:
            old = [(i, r) for i, r in enumerate(group.rows) if r is not None]
            rows = [r for _, r in old] + [None] * (new_size - len(old))
            if old:  # a chunk of 0 epochs at the old size stores them into the pool
                temp = pool.alloc(len(old), pinned)
                dst = np.full(size, pool.size, np.int32)
                dst[[i for i, _ in old]] = temp
                idle = np.zeros(size, np.bool_)
                src_d, tids_d, off_d, dst_d = self._put(
                    (np.zeros(size, np.int32), np.zeros(size, np.int32), idle, dst))
                program = self._program(group, size)
                with pool.lock:
                    _, pool.arrays, _ = program(
                        group.state, pool.arrays, src_d, off_d, tids_d, off_d, group.dyn_dev,
                        off_d, np.int32(0), self._data, dst_d, np.False_,
                        np.zeros(size, np.int32), np.zeros(len(eval_blocks(size)), np.int32))
                moved = list(enumerate(temp))
            leaves_t = jax.tree.leaves(self.model.template(group.static))
            group.state = jax.device_put(  # the base of the new batch (every row is replaced)
                jax.tree.unflatten(
                    jax.tree.structure(self.model.template(group.static)),
                    [np.zeros((new_size, *t.shape), t.dtype) for t in leaves_t]),
                self._rows_sharding)
            group.waste = 0.0
            group.dyn_host = {k: np.asarray([r.dyn[k] if r is not None else 0.0 for r in rows],
                                            np.float32) for k in self.model.dynamic}
            group.active_host = np.asarray([r is not None for r in rows], np.bool_)
            group.src = np.zeros(new_size, np.int32)
            group.load = np.zeros(new_size, np.bool_)
            group.take_new = np.zeros(new_size, np.bool_)
            group.tids = np.zeros(new_size, np.int32)
        src, load, take_new, tids = group.src, group.load, group.take_new, group.tids
        for j, slot in moved:
            src[j], load[j] = slot, True
        free = [i for i, r in enumerate(rows) if r is None]
        host_rows: list[tuple[int, _Row]] = []
        for row, slot in zip(group.pending, free):
            rows[slot] = row
            for k in self.model.dynamic:
                group.dyn_host[k][slot] = row.dyn[k]
            group.active_host[slot] = True
            if row.fresh:
                take_new[slot], tids[slot] = True, row.trial_id
            elif row.handle is not None:
                src[slot], load[slot] = row.handle._slot, True
            else:
                host_rows.append((slot, row))
        if host_rows:  # checkpoints in host memory: copied to pool slots, then gathered
            pinned |= {slot for _, slot in moved}
            slots = pool.alloc(len(host_rows), pinned)
            leaves_t, treedef = jax.tree.flatten(self.model.template(group.static))
            buf = [np.zeros((new_size, *t.shape), t.dtype) for t in leaves_t]
            dst = np.full(new_size, pool.size, np.int32)
            for (slot, row), pslot in zip(host_rows, slots):
                for leaf, val in zip(buf, treedef.flatten_up_to(row.host_state)):
                    leaf[slot] = np.asarray(val, dtype=leaf.dtype)
                dst[slot], src[slot], load[slot] = pslot, pslot, True
            self._store(group, self._put(jax.tree.unflatten(treedef, buf)), dst)
            group.temp.extend(slots)
            self.rows_from_host += len(host_rows)
        group.temp.extend(slot for _, slot in moved)
        group.dyn_dev = self._put(group.dyn_host)
        for row in group.pending:
            row.handle, row.host_state, row.fresh = None, None, False
        group.pending = []
        group.rows = rows

    # ------------------------------------------------------------------ running
    def _dispatch(self, group: _Group, max_epochs: int | None) -> None:
        """Lay out and launch one chunk of ``group`` (asynchronously)."""
        self._layout(group)
        pool = group.pool
        assert pool is not None
        rows = group.rows
        live = [(i, r) for i, r in enumerate(rows) if r is not None]
        if not live:
            return
        n = min(r.remaining for _, r in live)
        if max_epochs is not None:
            n = min(n, max(1, int(max_epochs)))
        finishing = [(i, r) for i, r in live if r.remaining <= n]
        pinned = set(group.src[group.load].tolist()) if group.load.any() else set()
        slots = pool.alloc(len(finishing), pinned)  # may grow the pool: before the program
        dst = np.full(len(rows), pool.size, np.int32)
        for (i, _), slot in zip(finishing, slots):
            dst[i] = slot
        program = self._program(group, len(rows))
        src_d, load_d, tids_d, take_d, active_d, dst_d = self._put(
            (group.src, group.load, group.tids, group.take_new, group.active_host, dst))
        t0 = self._clock()
        report = (self.progress_interval is not None and len(finishing) < len(live)
                  and t0 - group.last_full >= self.progress_interval)
        order = np.zeros(len(rows), np.int32)
        if report:
            group.last_full = t0
        full = report or len(finishing) == len(rows)
        if full:
            self.rows_evaluated += len(rows)
            self.full_evaluations += 1
        elif finishing:  # only the finished rows, gathered in front
            order[: len(finishing)] = [i for i, _ in finishing]
            self.rows_evaluated += len(finishing)
        counts = block_counts(0 if full else len(finishing), eval_blocks(len(rows)))
        with pool.lock:
            state, pool.arrays, values = program(
                group.state, pool.arrays, src_d, load_d, tids_d, take_d, group.dyn_dev, active_d,
                np.int32(n), self._data, dst_d, np.bool_(full), order, counts)
        group.state = state
        group.load[:] = False
        group.take_new[:] = False
        pool.free.extend(group.temp)  # read by the program just launched
        group.temp = []
        done: list[tuple[int, _Row, int]] = []
        going: list[tuple[int, _Row]] = []
        for i, r in live:
            r.remaining -= n
            r.trained += n
            r.resource += n
            if r.remaining > 0:
                going.append((i, r))
        for (i, r), slot in zip(finishing, slots):
            done.append((i, r, slot))
            rows[i] = None
            group.active_host[i] = False
        self.epochs_trained += n * len(live)
        group.busy = True
        self._inflight.append(_Chunk(group, len(rows), n, t0, values, done, going, full, report))
        self.n_chunks += 1
        self._used.add(len(rows))

    def _resolve(self, chunk: _Chunk) -> list[Finished]:
        """Read a chunk's values; turn its finished rows into :class:`Finished` outcomes."""
        t_wait = time.perf_counter()
        values = np.asarray(chunk.values)  # waits for the chunk
        self.wait_seconds += time.perf_counter() - t_wait
        seconds = self._clock() - chunk.t0
        group = chunk.group
        group.busy = False
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
        if n_left and self._fit(n_left) < chunk.size:
            group.waste += seconds * (1 - self._fit(n_left) / chunk.size)
        self._last_values = ({r.key: (r.resource, float(values[i])) for i, r in chunk.going}
                             if chunk.report else {})
        return out

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Run one chunk; return the rows that finished.

        Adds its time to :attr:`host_seconds`, less the time spent waiting for the device.

        Launches a chunk of every static group with rows and no chunk in flight (groups take
        turns at going first), then waits for the oldest chunk in flight and returns its
        finished rows; with one group, that is the chunk just launched.

        Parameters
        ----------
        max_epochs
            Cap on the chunk length (smaller chunks let new rows join sooner).
        """
        t0 = time.perf_counter()
        wait = self.wait_seconds
        try:
            groups = [g for g in self._groups.values() if g.n_live() and not g.busy]
            if groups:
                first = next(self._rr) % len(groups)
                for group in groups[first:] + groups[:first]:
                    self._dispatch(group, max_epochs)
            if not self._inflight:
                return []
            return self._resolve(self._inflight.popleft())
        finally:
            self.host_seconds += time.perf_counter() - t0 - (self.wait_seconds - wait)

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
            group.rows, group.pending, group.state, group.busy = [], [], None, False
            group.dyn_dev = None

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: chunks, epochs, host/wait seconds, rows copied to/from the host, spilled,
        rows evaluated, full evaluations, pool rows (allocated, in use). Read it between steps (it frees the slots of dead
        handles, which only the engine's thread may do)."""
        pools = {sig: g.pool for sig, g in self._groups.items() if g.pool is not None}
        for p in pools.values():
            p.collect()
        return {"n_chunks": self.n_chunks, "epochs_trained": self.epochs_trained,
                "host_seconds": self.host_seconds, "wait_seconds": self.wait_seconds,
                "rows_to_host": self.rows_to_host, "rows_from_host": self.rows_from_host,
                "rows_spilled": self.rows_spilled, "rows_evaluated": self.rows_evaluated,
                "full_evaluations": self.full_evaluations,
                "pool_rows": {sig: p.size for sig, p in pools.items()},
                "pool_used": {sig: p.n_used for sig, p in pools.items()}}

    def state_sharding(self, sig: Hashable) -> Any:
        """The sharding of static group ``sig``'s batched state (``None`` before its first chunk)."""
        group = self._groups.get(sig)
        if group is None or group.state is None:
            return None
        return jax_module().tree.leaves(group.state)[0].sharding

    @property
    def buckets_used(self) -> tuple[int, ...]:
        """Batch sizes the chunks ran with so far (all groups)."""
        return tuple(sorted(self._used))

    @property
    def batch_sizes(self) -> dict[Hashable, int]:
        """Current batch size (bucket) of each static group."""
        return {sig: len(g.rows) for sig, g in self._groups.items()}
