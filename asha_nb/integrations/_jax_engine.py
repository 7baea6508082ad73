"""The JAX batch engine: slots, buckets, compaction (see :mod:`asha_nb.integrations.jax`)."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..executors.batched import Finished, whole_epochs
from ._jax_model import BatchedModel, freeze, jax_module

__all__ = ["JaxBatchEngine", "bucket_sizes"]


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


@dataclass(eq=False)
class _Row:
    key: Hashable
    trial_id: int
    dyn: dict[str, float]
    remaining: int
    resource: int  # epochs the state has (checkpoint's + trained so far)
    trained: int = 0
    checkpoint: Any = None  # host state to load, until loaded
    fresh: bool = False  # needs a new initial state


@dataclass(eq=False)
class _Group:
    sig: Hashable
    static: dict[str, Any]
    rows: list[_Row | None] = field(default_factory=list)  # slot -> row
    state: Any = None  # device pytree with leading axis len(rows)
    pending: list[_Row] = field(default_factory=list)
    waste: float = 0.0  # estimated seconds lost to empty slots since the last resize
    epoch_seconds: dict[int, float] = field(default_factory=dict)  # bucket -> last epoch time

    def n_live(self) -> int:
        return sum(r is not None for r in self.rows) + len(self.pending)

    def remaining(self) -> int:
        """Epochs until the longest row finishes (the group runs at least that long)."""
        return max([r.remaining for r in self.rows if r is not None]
                   + [r.remaining for r in self.pending], default=0)


class JaxBatchEngine:
    """Slot manager and runner of batched training for one :class:`BatchedModel`.

    Rows (jobs) are added with :meth:`add`, removed with :meth:`remove`, and :meth:`step`
    advances one static group by one *chunk*: ``min(remaining epochs)`` over its rows, so every
    row either finishes in that chunk or keeps training, and no row trains past its target.
    Finished rows leave the batch and free their slot for the next :meth:`add` (continuous
    batching), so jobs of different lengths (rung 0 vs promotions) share a batch without padding
    epochs. New rows get their initial state from the model's one-configuration ``init``
    program; a promoted row's checkpoint is loaded into its slot.

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
    clock
        Monotonic clock in seconds (``time.perf_counter``); tests inject a fake one.

    Attributes
    ----------
    n_chunks : int
        Chunks run so far.
    epochs_trained : int
        Model-epochs trained by live rows (padding excluded).
    """

    def __init__(
        self,
        model: BatchedModel,
        capacity: int,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
        compact_after: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        jax = jax_module()
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise InvalidParameterError(f"capacity must be an int >= 1, got {capacity!r}")
        if compact_after is not None and not compact_after >= 0:
            raise InvalidParameterError(
                f"compact_after must be None or >= 0 seconds, got {compact_after!r}")
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
        self._clock = clock
        self._groups: dict[Hashable, _Group] = {}
        self._where: dict[Hashable, _Group] = {}  # row key -> group
        self._rr = itertools.count()
        self._last_values: dict[Hashable, tuple[int, float]] = {}
        self._used: set[int] = set()
        self.n_chunks = 0
        self.epochs_trained = 0

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
        """Queue a job: train ``config`` ``epochs`` more epochs from ``checkpoint`` (or scratch)."""
        if key in self._where:
            raise InvalidParameterError(f"key must be new to the engine, got {key!r} twice")
        dyn, static = self.model.split(config)
        sig = freeze(static)
        n = whole_epochs(epochs, "epochs")
        group = self._groups.get(sig)
        if group is None:
            group = self._groups[sig] = _Group(sig, dict(static))
        if checkpoint is None:
            row = _Row(key, int(trial_id), dyn, n, 0, fresh=True)
        else:
            row = _Row(key, int(checkpoint.get("trial_id", trial_id)), dyn, n,
                       int(checkpoint.get("resource", 0)), checkpoint=checkpoint["state"])
        group.pending.append(row)
        self._where[key] = group

    def remove(self, key: Hashable) -> bool:
        """Drop a row (a stopped job). Returns whether it was there."""
        group = self._where.pop(key, None)
        if group is None:
            return False
        group.pending = [r for r in group.pending if r.key != key]
        group.rows = [None if (r is not None and r.key == key) else r for r in group.rows]
        return True

    # ------------------------------------------------------------------ layout
    def _ready(self, group: _Group, size: int) -> bool:
        return self.model.is_compiled(self.model.batch_key(group.sig, size, self.mesh))

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
        """The batched program for ``size`` rows; a missing init program compiles alongside."""
        init_key = self.model.init_key(group.sig)
        if not any(r.fresh for r in group.pending) or self.model.is_compiled(init_key):
            return self.model.batch_program(group.static, size, self.mesh)
        with cf.ThreadPoolExecutor(1, thread_name_prefix="asha-jax-compile") as pool:
            other = pool.submit(self.model.init_program, group.static)
            program = self.model.batch_program(group.static, size, self.mesh)
            other.result()
        return program

    def _layout(self, group: _Group) -> tuple[Any, Any, Any]:
        """Place pending rows in free slots and resize if worth it.

        Returns the batched program and its ``new``/``load`` arguments: rows joining without a
        resize are loaded by the program itself (no round trip of the batch through the host).
        """
        jax = jax_module()
        size = len(group.rows)
        new_size = self._target_size(group)
        program = self._program(group, new_size)
        no_load = np.zeros(new_size, np.bool_)
        if not group.pending and new_size == size:
            return program, group.state, no_load
        if group.n_live() > new_size:
            raise InvalidParameterError(
                f"capacity must cover the rows: {group.n_live()} rows exceed the largest "
                f"bucket {new_size}")
        leaves_t, treedef = jax.tree.flatten(self.model.template(group.static))
        if new_size == size:  # rows join free slots: the program loads them
            rows = list(group.rows)
            buf = [np.zeros((size, *t.shape), t.dtype) for t in leaves_t]
            load = no_load.copy()
        else:  # resize: the batch goes through the host once, live rows first
            old = [(i, r) for i, r in enumerate(group.rows) if r is not None]
            rows = [r for _, r in old] + [None] * (new_size - len(old))
            buf = [np.zeros((new_size, *t.shape), t.dtype) for t in leaves_t]
            if old:
                src = np.asarray([i for i, _ in old])
                host = jax.tree.leaves(jax.device_get(group.state))
                for leaf, h in zip(buf, host):
                    leaf[: len(old)] = np.asarray(h)[src]
            load = None
            group.waste = 0.0
        free = [i for i, r in enumerate(rows) if r is None]
        slots = dict(zip(map(id, group.pending), free))
        fresh = [r for r in group.pending if r.fresh]
        if fresh:  # new rows: initialised together, written with one assignment per leaf
            stacked = self.model.init_states(group.static, [(r.trial_id, r.dyn) for r in fresh])
            where = np.asarray([slots[id(r)] for r in fresh])
            for leaf, val in zip(buf, jax.tree.leaves(stacked)):
                leaf[where] = val
        for row in group.pending:
            slot = slots[id(row)]
            rows[slot] = row
            if not row.fresh:  # a promoted row: its checkpoint
                for leaf, val in zip(buf, treedef.flatten_up_to(row.checkpoint)):
                    leaf[slot] = np.asarray(val, dtype=leaf.dtype)
            if load is not None:
                load[slot] = True
            row.checkpoint, row.fresh = None, False
        group.pending = []
        group.rows = rows
        new = jax.device_put(jax.tree.unflatten(treedef, buf), self._rows_sharding)
        if load is None:
            group.state = new
            return program, new, no_load
        return program, new, load

    # ------------------------------------------------------------------ running
    def _pick_group(self) -> _Group | None:
        groups = [g for g in self._groups.values() if g.n_live()]
        if not groups:
            return None
        return groups[next(self._rr) % len(groups)]

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Run one chunk of one group; return the rows that finished.

        Parameters
        ----------
        max_epochs
            Cap on the chunk length (smaller chunks let new rows join sooner).
        """
        jax = jax_module()
        group = self._pick_group()
        if group is None:
            return []
        program, new, load = self._layout(group)
        rows = group.rows
        live = [r for r in rows if r is not None]
        n = min(r.remaining for r in live)
        if max_epochs is not None:
            n = min(n, max(1, int(max_epochs)))
        first = live[0]
        put = lambda a: jax.device_put(a, self._rows_sharding)
        dyn = {k: put(np.asarray([(r or first).dyn[k] for r in rows], np.float32))
               for k in self.model.dynamic}
        active = put(np.asarray([r is not None for r in rows], np.bool_))
        t0 = self._clock()
        state, values = program(group.state, new, put(load), dyn, active, np.int32(n), self._data)
        values = np.asarray(values)
        seconds = self._clock() - t0
        group.state = state
        group.epoch_seconds[len(rows)] = seconds / n
        self.n_chunks += 1
        self._used.add(len(rows))
        done: list[tuple[int, _Row]] = []
        for i, r in enumerate(rows):
            if r is None:
                continue
            r.remaining -= n
            r.trained += n
            r.resource += n
            self.epochs_trained += n
            if r.remaining <= 0:
                done.append((i, r))
        out: list[Finished] = []
        if done:
            host = jax.tree.map(np.asarray, jax.device_get(state))
            for i, r in done:
                ck = {"state": jax.tree.map(lambda a, i=i: a[i].copy(), host),
                      "resource": r.resource, "trial_id": r.trial_id}
                out.append(Finished(r.key, r.trial_id, float(values[i]), ck, r.trained))
                group.rows[i] = None
                self._where.pop(r.key, None)
        n_left = group.n_live()
        if n_left and self._fit(n_left) < len(rows):
            group.waste += seconds * (1 - self._fit(n_left) / len(rows))
        self._last_values = {r.key: (r.resource, float(values[i]))
                             for i, r in enumerate(rows) if r is not None and r.remaining > 0}
        return out

    def progress(self) -> dict[Hashable, tuple[int, float]]:
        """``key -> (resource, value)`` of the rows still training after the last :meth:`step`."""
        return {k: v for k, v in self._last_values.items() if k in self._where}

    def run(self) -> list[Finished]:
        """Step until every row has finished; return them all."""
        out: list[Finished] = []
        while self.n_active:
            out.extend(self.step())
        return out

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
