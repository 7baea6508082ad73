"""Rows, static groups and chunks of the JAX engine, and where rows go: buckets and layout."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ._jax_common import (
    bucket_sizes,
    default_train_block,
    engine_devices,
    eval_blocks,
    jax_module,
    pack_chunk,
)
from ._jax_pool import _DEFAULT_POOL_BYTES, DeviceCheckpoint, _Pool


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
    started: bool = False  # has been in a dispatched chunk


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
    inflight: int = 0  # chunks dispatched whose values have not been read
    ahead: tuple[int, bool] = (0, False)  # the last dispatched chunk: (epochs, rows finishing)
    # what the next chunk loads: pool slots (src/load), new states (new/take_new), on the host
    src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    load: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    take_new: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    tids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # of new rows
    temp: list[int] = field(default_factory=list)  # pool slots to free once the chunk is out
    last_full: float = -math.inf  # clock time of the last chunk that evaluated every row

    def n_live(self) -> int:
        return self.n_placed() + len(self.pending)

    def n_placed(self) -> int:
        """Rows in the batch (the pending ones not yet placed excluded)."""
        return int(np.count_nonzero(self.active_host))  # kept with ``rows``

    def remaining(self) -> int:
        """Epochs until the longest row finishes (the group runs at least that long)."""
        return max([r.remaining for r in self.rows if r is not None]
                   + [r.remaining for r in self.pending], default=0)


@dataclass(eq=False)
class _Chunk:
    """A dispatched chunk whose values have not been read yet."""

    group: _Group
    size: int
    m: int  # rows trained: the live ones first, in whole blocks of ``train_block`` rows
    n: int
    t0: float
    values: Any  # device array: by batch slot (full), else ``done``'s rows in order
    done: list[tuple[int, _Row, int]]  # (batch slot, row, pool slot)
    going: list[tuple[int, _Row, int]]  # rows that keep training: (slot, row, resource reached)
    full: bool  # every row was evaluated
    report: bool  # ... for the progress: the values of ``going`` are reported


class _Layout:
    """Bucket choice and row layout of :class:`~asha_nb.integrations.jax.JaxBatchEngine` (a mixin)."""

    model: Any
    mesh: Any
    _groups: dict[Hashable, _Group]
    devices: list[Any]
    train_block: int
    capacity: int
    max_pool_bytes: int | None
    pool_fraction: float
    buckets: tuple[int, ...]
    compact_after: float | None
    _resolve_devices = staticmethod(engine_devices)  # ``devices`` argument -> JAX devices
    rows_from_host: int
    _used: set[int]
    _rows_sharding: Any
    _data: Any

    def _blocks_and_buckets(self, train_block: int | None,
                            buckets: Sequence[int] | None) -> tuple[int, tuple[int, ...]]:
        """The engine's ``(train_block, buckets)`` from its arguments (see there), checked."""
        nd = len(self.devices)
        if train_block is not None and (
                not isinstance(train_block, (int, np.integer)) or isinstance(train_block, bool)
                or train_block < 1 or train_block % nd):
            raise InvalidParameterError(
                f"train_block must be None or a positive multiple of the device count {nd}, "
                f"got {train_block!r}")
        given = None if buckets is None else tuple(buckets)
        if given is not None and (not given or any(
                not isinstance(b, (int, np.integer)) or b < 1 for b in given)):
            raise InvalidParameterError(
                f"buckets must be positive multiples of the device count {nd}, got {given!r}")
        cpu = all(d.platform == "cpu" for d in self.devices)
        block = int(train_block) if train_block is not None else default_train_block(
            self.capacity, nd, cpu, given)
        sizes = given if given is not None else bucket_sizes(self.capacity, block)
        if any(int(b) % nd for b in sizes):
            raise InvalidParameterError(
                f"buckets must be positive multiples of the device count {nd}, got {sizes!r}")
        if any(int(b) % block for b in sizes):
            raise InvalidParameterError(
                f"buckets must be multiples of train_block={block} (a chunk trains in whole "
                f"blocks), got {sizes!r}")
        if max(sizes) < self.capacity:
            raise InvalidParameterError(
                f"buckets must include one >= capacity={self.capacity}, got {sizes!r}")
        return block, tuple(sorted({int(b) for b in sizes}))

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

    def _ready(self, group: _Group, size: int) -> bool:
        pool = group.pool
        assert pool is not None
        return self.model.is_compiled(self.model.batch_key(group.sig, size, self.mesh, pool.size,
                                                          self.train_block))

    def _trained_rows(self, size: int, n_live: int) -> tuple[int, int]:
        """``(n_blocks, m)``: the blocks and rows (``m = n_blocks * train_block``) a chunk of a
        ``size`` batch with ``n_live`` live rows trains: the live rows, in whole blocks."""
        n_blocks = min(-(-int(n_live) // self.train_block), size // self.train_block)
        return n_blocks, n_blocks * self.train_block

    def _saved(self, size: int, fit: int, n_live: int) -> float:
        """The fraction of a chunk's training that ``n_live`` rows would save in a ``fit``
        batch rather than a ``size`` one: none when the live rows fill the same blocks."""
        return 1 - self._trained_rows(fit, n_live)[1] / max(self._trained_rows(size, n_live)[1], 1)

    def _fit(self, n_live: int) -> int:
        return next((b for b in self.buckets if b >= n_live), self.buckets[-1])

    def _target_size(self, group: _Group, n_live: int) -> int:
        """The bucket the group's next chunk runs in, holding ``n_live`` rows (see the class
        docstring)."""
        size = len(group.rows)
        fit = self._fit(n_live)
        if n_live > size:
            ready = [b for b in self.buckets if b >= n_live and self._ready(group, b)]
            return ready[0] if ready else self.buckets[-1]
        if fit < size:
            ready = [b for b in self.buckets if fit <= b < size and self._ready(group, b)]
            if ready and ready[0] == fit:
                return fit
            epoch = group.epoch_seconds.get(size, 0.0)
            saved = self._saved(size, fit, n_live)
            to_come = epoch * saved * group.remaining()
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
        return self.model.batch_program(group.static, size, pool.size, self.mesh, self.train_block)

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
        # rows beyond the capacity (all groups' batches together) wait in ``pending``, in order
        room = max(0, self.capacity - sum(g.n_placed() for g in self._groups.values()))
        take = min(len(group.pending), room)
        n_rows = group.n_placed() + take
        new_size = self._target_size(group, n_rows)
        first = group.state is None
        if not take and new_size == size:
            return
        if n_rows > new_size:
            raise InvalidParameterError(
                f"capacity must cover the rows: {n_rows} rows exceed the largest "
                f"bucket {new_size}")
        pinned = {r.handle._slot for r in group.pending if r.handle is not None}
        placing, group.pending = group.pending[:take], group.pending[take:]
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
                zero = np.zeros(size, np.int32)
                idx, meta = pack_chunk(zero, zero, dst, np.arange(size, dtype=np.int32),
                                       zero, zero, 0, False, 0, np.zeros(len(eval_blocks(size))),
                                       [zero.view(np.float32)] * len(self.model.dynamic))
                program = self._program(group, size)
                with pool.lock:
                    _, pool.arrays, _ = program(group.state, pool.arrays, self._data, idx, meta)
                moved = list(enumerate(temp))
            # the base of the new batch (every row is replaced), made on the devices
            group.state = self.model.zeros_program(group.static, new_size, self.mesh)()
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
        for row, slot in zip(placing, free):
            rows[slot] = row
            for k in self.model.dynamic:
                group.dyn_host[k][slot] = row.dyn[k]
            group.active_host[slot] = True
            if row.fresh:
                take_new[slot], tids[slot] = True, row.trial_id
            elif row.handle is not None and row.handle.on_device:
                src[slot], load[slot] = row.handle._slot, True
            else:  # a host checkpoint, or a handle spilled while its row waited for room
                if row.host_state is None and row.handle is not None:
                    row.host_state = row.handle.state()
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
        for row in placing:
            row.handle, row.host_state, row.fresh = None, None, False
        group.rows = rows

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
