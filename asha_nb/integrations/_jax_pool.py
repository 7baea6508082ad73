"""The device checkpoint pool of a static group and its handles (see :class:`DeviceCheckpoint`)."""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ._jax_common import jax_module

__all__ = ["DeviceCheckpoint"]


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

    def __init__(self, engine: Any, group: Any, row_bytes: int, max_rows: int):
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
        with self.lock:
            if self.size == 0:  # zeros made on the devices
                self.arrays = eng.model.zeros_program(self.group.static, new_size, eng.mesh)()
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
