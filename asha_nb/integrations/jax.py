"""Train many configurations of one JAX model at once: vmapped batches sharded across local devices.

A :class:`BatchedModel` describes a model by three pure, per-configuration functions; the
batched engine (:class:`BatchEngine`, driven by the ``"jax-batched"`` executor
:class:`asha_nb.executors.jax_batched.JaxBatchExecutor`) ``jit``-compiles a ``vmap`` of them
over a leading *configuration axis* ``K`` and places that axis on a 1-D device mesh with
``NamedSharding(Mesh(jax.local_devices(), ("k",)), P("k"))``, so XLA splits the batch across
devices (no ``pmap``).

- ``init(key, hparams) -> state``: a fresh state (any pytree of arrays) for one configuration.
- ``train_epoch(state, hparams, data) -> state``: train one unit of resource (one epoch).
- ``evaluate(state, data) -> scalar``: the value reported to the scheduler.

``hparams`` is a dict holding every key of the configuration: the *dynamic* ones
(``dynamic=("lr", ...)``, continuous values) are traced float32 scalars, so any value runs in
the same compiled program; all other keys are *static* (Python values: widths, depths,
optimizer names). Configurations with equal static values form a *group*, and each group has
its own compiled programs. Inside a group the batch size ``K`` is kept in a few *buckets*
(``n_devices * 2**j``), so a whole search compiles at most ``n_groups * n_buckets`` programs
(:attr:`BatchedModel.n_compiles` counts them).

Training is exact per configuration: every row has its own PRNG key (``fold_in(seed,
trial_id)``), rows never interact, and a row's state sliced to host memory (its checkpoint, a
dict of numpy arrays) and loaded into another batch continues bit-for-bit (on CPU) as it
would have in the original batch.

Examples
--------
The ready-made digits MLP and an ASHA search on the batched executor::

    from asha_nb import ASHA, Search
    from asha_nb.executors.jax_batched import JaxBatchExecutor
    from asha_nb.integrations.jax import digits_mlp

    model, space = digits_mlp()
    search = Search(model, space,
                    scheduler=ASHA(space, min_resource=1, max_resource=27, max_trials=256),
                    executor=JaxBatchExecutor(), n_workers=64)

A model of your own (``dynamic`` hyperparameters are traced, the rest is static)::

    import jax, jax.numpy as jnp

    def init(key, hp):                      # hp["width"] is a Python int here
        return {"w": jax.random.normal(key, (8, hp["width"])), "key": key}

    def train_epoch(state, hp, data):       # hp["lr"] is a traced float32 scalar
        g = jax.grad(lambda w: jnp.mean((data["x"] @ w).sum(1) - data["y"]) ** 2)(state["w"])
        return {**state, "w": state["w"] - hp["lr"] * g}

    def evaluate(state, data):
        return -jnp.mean(((data["x"] @ state["w"]).sum(1) - data["y"]) ** 2)

    model = BatchedModel(init, train_epoch, evaluate, data, dynamic=("lr",))

A :class:`BatchedModel` is also an ordinary checkpoint objective
``model(config, resource, checkpoint) -> (value, checkpoint)`` that trains one configuration,
so the same model runs per trial on the thread executor.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, MissingExtraError

__all__ = ["BatchedModel", "BatchEngine", "Finished", "bucket_sizes", "digits_mlp"]


def _jax() -> Any:
    try:
        import jax
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("jax", "jax") from exc
    return jax


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


def _epochs(value: float, what: str) -> int:
    n = int(round(float(value)))
    if abs(n - float(value)) > 1e-9 or n < 0:
        raise InvalidParameterError(
            f"{what} must be a non-negative whole number of epochs for a BatchedModel, got {value!r}"
        )
    return n


class BatchedModel:
    """A JAX model whose configurations can be trained many at a time.

    Parameters
    ----------
    init
        ``init(key, hparams) -> state``: fresh state (a pytree of arrays) of one configuration.
        ``key`` is a legacy ``uint32[2]`` PRNG key, ``fold_in(PRNGKey(seed), trial_id)``; keep
        a key in the state if training needs randomness (shuffling, dropout).
    train_epoch
        ``train_epoch(state, hparams, data) -> state``: one unit of resource (one epoch). Pure;
        it sees one configuration (the engine vmaps it).
    evaluate
        ``evaluate(state, data) -> scalar``: the value reported to the scheduler (e.g.
        validation accuracy with ``mode="max"``).
    data
        Pytree of arrays shared by all configurations (replicated on every device).
    dynamic
        Configuration keys passed as traced float32 scalars (continuous hyperparameters such
        as ``"lr"``, ``"weight_decay"``, ``"momentum"``): changing them never recompiles.
    static
        Configuration keys that change shapes or the program (``"width"``, ``"depth"``,
        ``"optimizer"``). ``None`` (default): every key not in ``dynamic``. Keys in neither are
        not passed to the functions.
    seed
        Seed of the per-trial PRNG keys.

    Attributes
    ----------
    n_compiles : int
        Batched programs compiled so far (one per static group and batch size used).
    n_single_compiles : int
        Single-configuration programs compiled so far (per static group).
    """

    def __init__(
        self,
        init: Callable[..., Any],
        train_epoch: Callable[..., Any],
        evaluate: Callable[..., Any],
        data: Any,
        *,
        dynamic: Sequence[str] = (),
        static: Sequence[str] | None = None,
        seed: int = 0,
    ):
        for name, fn in (("init", init), ("train_epoch", train_epoch), ("evaluate", evaluate)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.init = init
        self.train_epoch = train_epoch
        self.evaluate = evaluate
        self.data = data
        self.dynamic = tuple(dynamic)
        self.static = None if static is None else tuple(static)
        overlap = set(self.dynamic) & set(self.static or ())
        if overlap:
            raise InvalidParameterError(f"keys both dynamic and static: {sorted(overlap)}")
        self.seed = int(seed)
        self.n_compiles = 0
        self.n_single_compiles = 0
        self._programs: dict[Hashable, Any] = {}
        self._single: dict[Hashable, Any] = {}
        self._templates: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self._device_data: dict[Hashable, Any] = {}

    # ------------------------------------------------------------------ configs
    def split(self, config: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
        """Split a configuration into its dynamic (float) and static parts."""
        missing = [k for k in self.dynamic if k not in config]
        if missing:
            raise InvalidParameterError(f"configuration lacks dynamic keys {missing}: {dict(config)}")
        dyn = {k: float(config[k]) for k in self.dynamic}
        keys = self.static if self.static is not None else [k for k in config if k not in dyn]
        stat = {k: config[k] for k in keys if k in config}
        return dyn, stat

    def signature(self, config: Mapping[str, Any]) -> Hashable:
        """The static signature of a configuration (configurations with equal ones share programs)."""
        return _freeze(self.split(config)[1])

    # ------------------------------------------------------------------ programs
    def _hp(self, static: Mapping[str, Any], dyn: Mapping[str, Any]) -> dict[str, Any]:
        return {**static, **dyn}

    def _template(self, sig: Hashable, static: Mapping[str, Any]) -> Any:
        """Shapes/dtypes of one configuration's state (no compile: ``eval_shape``)."""
        with self._lock:
            if sig not in self._templates:
                jax = _jax()
                dyn = {k: np.float32(0.0) for k in self.dynamic}
                key = jax.random.PRNGKey(0)
                self._templates[sig] = jax.eval_shape(
                    lambda k, d: self.init(k, self._hp(static, d)), key, dyn
                )
            return self._templates[sig]

    def _program(self, sig: Hashable, static: Mapping[str, Any]) -> Any:
        """The jitted batched program of a static group (one compile per batch size/sharding)."""
        with self._lock:
            if sig in self._programs:
                return self._programs[sig]
            jax = _jax()
            jnp = jax.numpy
            base = jax.random.PRNGKey(self.seed)
            model = self

            def where(mask: Any, a: Any, b: Any) -> Any:
                return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

            def program(state, dyn, tids, fresh, active, n_epochs, data):  # type: ignore[no-untyped-def]
                model.n_compiles += 1  # runs once per trace, i.e. once per compile
                keys = jax.vmap(lambda t: jax.random.fold_in(base, t))(tids)
                new = jax.vmap(lambda k, d: model.init(k, model._hp(static, d)))(keys, dyn)
                state = jax.tree.map(lambda n, o: where(fresh, n, o), new, state)

                def body(_: Any, s: Any) -> Any:
                    t = jax.vmap(lambda s1, d: model.train_epoch(s1, model._hp(static, d), data))(s, dyn)
                    return jax.tree.map(lambda n, o: where(active, n, o), t, s)

                state = jax.lax.fori_loop(0, n_epochs, body, state)
                values = jax.vmap(lambda s1: model.evaluate(s1, data))(state)
                return state, values

            fn = jax.jit(program)
            self._programs[sig] = fn
            return fn

    def _single_program(self, sig: Hashable, static: Mapping[str, Any]) -> Any:
        with self._lock:
            if sig in self._single:
                return self._single[sig]
            jax = _jax()
            jnp = jax.numpy
            base = jax.random.PRNGKey(self.seed)
            model = self

            def program(state, dyn, tid, fresh, n_epochs, data):  # type: ignore[no-untyped-def]
                model.n_single_compiles += 1
                hp = model._hp(static, dyn)
                new = model.init(jax.random.fold_in(base, tid), hp)
                state = jax.tree.map(lambda n, o: jnp.where(fresh, n, o), new, state)
                state = jax.lax.fori_loop(
                    0, n_epochs, lambda _, s: model.train_epoch(s, hp, data), state
                )
                return state, model.evaluate(state, data)

            fn = jax.jit(program)
            self._single[sig] = fn
            return fn

    def _data_on(self, key: Hashable, sharding: Any) -> Any:
        with self._lock:
            if key not in self._device_data:
                jax = _jax()
                self._device_data[key] = jax.device_put(self.data, sharding)
            return self._device_data[key]

    # ------------------------------------------------------------------ single config
    def train_single(
        self,
        config: Mapping[str, Any],
        epochs: float,
        checkpoint: Mapping[str, Any] | None = None,
        *,
        trial_id: int = 0,
    ) -> tuple[float, dict[str, Any]]:
        """Train one configuration for ``epochs`` more epochs (the unbatched reference path).

        Parameters
        ----------
        config
            The configuration.
        epochs
            Epochs to train on top of ``checkpoint`` (or from scratch).
        checkpoint
            A checkpoint produced by this model (batched or not), or ``None``.
        trial_id
            Selects the initial PRNG key; equal ids give equal initial states in both paths.

        Returns
        -------
        (value, checkpoint)
        """
        jax = _jax()
        dyn, static = self.split(config)
        sig = _freeze(static)
        n = _epochs(epochs, "epochs")
        template = self._template(sig, static)
        if checkpoint is None:
            state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), template)
            fresh, done = True, 0
            tid = int(trial_id)
        else:
            state = checkpoint["state"]
            fresh, done = False, int(checkpoint.get("resource", 0))
            tid = int(checkpoint.get("trial_id", trial_id))
        fn = self._single_program(sig, static)
        dev = jax.local_devices()[0]
        data = self._data_on(("single", dev.id), dev)
        dyn_arr = {k: np.float32(v) for k, v in dyn.items()}
        state, value = fn(state, dyn_arr, np.int32(tid), np.bool_(fresh), np.int32(n), data)
        host = jax.tree.map(lambda a: np.array(a), state)
        return float(value), {"state": host, "resource": done + n, "trial_id": tid}

    def __call__(
        self, config: Mapping[str, Any], resource: float, checkpoint: Any = None
    ) -> tuple[float, dict[str, Any]]:
        """Checkpoint-form objective: train one configuration up to ``resource`` epochs.

        Lets the same model run per trial on any executor (thread, process); the
        ``"jax-batched"`` executor does not call it.
        """
        done = 0 if checkpoint is None else int(checkpoint.get("resource", 0))
        trial_id = int(config.get("__trial_id__", 0)) if isinstance(config, Mapping) else 0
        return self.train_single(config, _epochs(resource, "resource") - done, checkpoint,
                                 trial_id=trial_id)

    def engine(
        self,
        capacity: int,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
    ) -> BatchEngine:
        """A :class:`BatchEngine` over this model (see there)."""
        return BatchEngine(self, capacity, devices=devices, buckets=buckets)

    def __repr__(self) -> str:
        return (f"BatchedModel(dynamic={self.dynamic!r}, static={self.static!r}, "
                f"n_compiles={self.n_compiles})")


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


# ---------------------------------------------------------------------- the engine
@dataclass(frozen=True)
class Finished:
    """A row that reached its target: what the executor turns into a ``JobOutcome``."""

    key: Hashable
    trial_id: int
    value: float
    checkpoint: dict[str, Any]
    epochs: int  #: epochs this job trained


@dataclass(eq=False)
class _Row:
    key: Hashable
    trial_id: int
    dyn: dict[str, float]
    remaining: int
    resource: int  # epochs the state has (checkpoint's + trained so far)
    trained: int = 0
    checkpoint: Any = None  # host state to load, until loaded
    fresh: bool = False  # needs init inside the next program run
    loaded: bool = False


@dataclass(eq=False)
class _Group:
    sig: Hashable
    static: dict[str, Any]
    rows: list[_Row | None] = field(default_factory=list)  # slot -> row
    state: Any = None  # device pytree with leading axis len(rows)
    pending: list[_Row] = field(default_factory=list)

    @property
    def live(self) -> list[_Row]:
        return [r for r in self.rows if r is not None] + self.pending


class BatchEngine:
    """Slot manager and runner of batched training for one :class:`BatchedModel`.

    Rows (jobs) are added with :meth:`add`, removed with :meth:`remove`, and :meth:`step`
    advances one static group by one *chunk*: ``min(remaining epochs)`` over its rows, so every
    row either finishes in that chunk or keeps training, and no row trains past its target.
    Finished rows leave the batch and free their slot for the next :meth:`add` (continuous
    batching, like LLM serving), so jobs of different lengths (rung 0 vs promotions) share a
    batch without padding epochs.

    Batch sizes are buckets (:func:`bucket_sizes`): a group grows to the smallest bucket that
    holds its rows, and is compacted only when its rows fit the next smaller bucket; empty slots
    are masked (``jnp.where`` on an ``active`` mask keeps their state unchanged, their value
    ignored).

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
    """

    def __init__(
        self,
        model: BatchedModel,
        capacity: int,
        *,
        devices: Sequence[Any] | None = None,
        buckets: Sequence[int] | None = None,
    ):
        jax = _jax()
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.model = model
        self.devices = list(devices) if devices is not None else list(jax.local_devices())
        nd = len(self.devices)
        self.mesh = Mesh(np.array(self.devices), ("k",))
        self._row_sharding = NamedSharding(self.mesh, PartitionSpec("k"))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._data_key = ("mesh", tuple(d.id for d in self.devices))
        self._fixed_buckets = buckets is not None
        self.capacity = int(capacity)
        self.buckets = self._check_buckets(tuple(buckets) if buckets else bucket_sizes(capacity, nd))
        self._groups: dict[Hashable, _Group] = {}
        self._where: dict[Hashable, _Group] = {}  # row key -> group
        self._rr = itertools.count()
        self.n_chunks = 0
        self.epochs_trained = 0  # model-epochs of live rows (padding excluded)

    def _check_buckets(self, buckets: tuple[int, ...]) -> tuple[int, ...]:
        nd = len(self.devices)
        for b in buckets:
            if b < 1 or b % nd:
                raise InvalidParameterError(
                    f"buckets must be positive multiples of the device count {nd}, got {buckets!r}"
                )
        if max(buckets) < self.capacity:
            raise InvalidParameterError(
                f"the largest bucket must hold capacity={self.capacity}, got {buckets!r}"
            )
        return tuple(sorted(set(buckets)))

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity (adds larger buckets if needed)."""
        self.capacity = int(capacity)
        if not self._fixed_buckets:
            self.buckets = tuple(sorted(set(self.buckets) | set(
                bucket_sizes(capacity, len(self.devices)))))

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
            raise InvalidParameterError(f"row key {key!r} is already in the engine")
        dyn, static = self.model.split(config)
        sig = _freeze(static)
        n = _epochs(epochs, "epochs")
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

    # ------------------------------------------------------------------ running
    def _bucket_for(self, n: int) -> int:
        for b in self.buckets:
            if b >= n:
                return b
        return self.buckets[-1]

    def _host_state(self, group: _Group) -> Any:
        jax = _jax()
        return jax.tree.map(lambda a: np.asarray(a), group.state)

    def _layout(self, group: _Group) -> None:
        """Load pending rows into free slots; grow or compact the bucket when needed."""
        jax = _jax()
        live_slots = [r for r in group.rows if r is not None]
        n_live = len(live_slots) + len(group.pending)
        size = len(group.rows)
        smaller = [b for b in self.buckets if b < size]
        resize = n_live > size or (smaller and n_live <= smaller[-1])
        if not group.pending and not resize:
            return
        template = self.model._template(group.sig, group.static)
        host = self._host_state(group) if group.state is not None else None
        if resize:
            new_size = self._bucket_for(n_live)
            if n_live > new_size:
                raise InvalidParameterError(
                    f"{n_live} rows exceed the largest bucket {new_size}; raise capacity")
            old = [(i, r) for i, r in enumerate(group.rows) if r is not None]
            rows: list[_Row | None] = [r for _, r in old] + [None] * (new_size - len(old))
            src = [i for i, _ in old]
        else:
            new_size = size
            rows = list(group.rows)
            src = None
        # host buffer of the new layout
        def build(t: Any, h: Any) -> np.ndarray:
            out = np.zeros((new_size,) + tuple(t.shape), t.dtype)
            if h is not None:
                if src is None:
                    out[:] = h
                elif src:
                    out[: len(src)] = h[np.asarray(src)]
            return out

        buf = jax.tree.map(build, template, host) if host is not None else jax.tree.map(
            lambda t: build(t, None), template)
        leaves, treedef = jax.tree.flatten(buf)
        free = [i for i, r in enumerate(rows) if r is None]
        for row in group.pending:
            slot = free.pop(0)
            rows[slot] = row
            if row.checkpoint is not None:
                ck = treedef.flatten_up_to(row.checkpoint)
                for leaf, val in zip(leaves, ck):
                    leaf[slot] = np.asarray(val, dtype=leaf.dtype)
                row.checkpoint = None
        group.pending = []
        group.rows = rows
        group.state = jax.device_put(jax.tree.unflatten(treedef, leaves), self._row_sharding)

    def _pick_group(self) -> _Group | None:
        groups = [g for g in self._groups.values() if g.pending or any(r is not None for r in g.rows)]
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
        jax = _jax()
        group = self._pick_group()
        if group is None:
            return []
        self._layout(group)
        rows = group.rows
        live = [r for r in rows if r is not None]
        n = min(r.remaining for r in live)
        if max_epochs is not None:
            n = min(n, max(1, int(max_epochs)))
        first = live[0]
        dyn = {k: np.asarray([(r or first).dyn[k] for r in rows], np.float32)
               for k in self.model.dynamic}
        tids = np.asarray([r.trial_id if r is not None else -1 for r in rows], np.int32)
        fresh = np.asarray([r is not None and r.fresh for r in rows], np.bool_)
        active = np.asarray([r is not None for r in rows], np.bool_)
        put = lambda a: jax.device_put(a, self._row_sharding)  # noqa: E731
        fn = self.model._program(group.sig, group.static)
        data = self.model._data_on(self._data_key, self._replicated)
        state, values = fn(group.state, {k: put(v) for k, v in dyn.items()}, put(tids),
                           put(fresh), put(active), np.int32(n), data)
        group.state = state
        self.n_chunks += 1
        values = np.asarray(values)
        done: list[tuple[int, _Row]] = []
        for i, r in enumerate(rows):
            if r is None:
                continue
            r.fresh = False
            r.remaining -= n
            r.trained += n
            r.resource += n
            self.epochs_trained += n
            if r.remaining <= 0:
                done.append((i, r))
        out: list[Finished] = []
        if done:
            host = self._host_state(group)
            for i, r in done:
                ck = {"state": jax.tree.map(lambda a, i=i: a[i].copy(), host),
                      "resource": r.resource, "trial_id": r.trial_id}
                out.append(Finished(r.key, r.trial_id, float(values[i]), ck, r.trained))
                group.rows[i] = None
                self._where.pop(r.key, None)
        self._last_values = {r.key: (r.resource, float(values[i]))
                             for i, r in enumerate(rows) if r is not None and r.remaining > 0}
        return out

    def progress(self) -> dict[Hashable, tuple[int, float]]:
        """``key -> (resource, value)`` of the rows still training after the last :meth:`step`."""
        return {k: v for k, v in getattr(self, "_last_values", {}).items() if k in self._where}

    def run(self) -> list[Finished]:
        """Step until every row has finished; return them all."""
        out: list[Finished] = []
        while self.n_active:
            out.extend(self.step())
        return out

    @property
    def batch_sizes(self) -> dict[Hashable, int]:
        """Current batch size (bucket) of each static group."""
        return {sig: len(g.rows) for sig, g in self._groups.items()}


# ---------------------------------------------------------------------- example model
def _load_digits(n_train: int) -> dict[str, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover
        raise MissingExtraError("sklearn", "scikit-learn") from exc
    x, y = load_digits(return_X_y=True)
    perm = np.random.RandomState(0).permutation(len(x))
    x = (x[perm] / 16.0).astype(np.float32)
    y = y[perm].astype(np.int32)
    return {"x_train": x[:n_train], "y_train": y[:n_train],
            "x_val": x[n_train:], "y_val": y[n_train:]}


def digits_mlp(
    *,
    widths: Sequence[int] = (64,),
    batch_size: int = 128,
    n_batches: int = 11,
    seed: int = 0,
) -> tuple[BatchedModel, dict[str, Any]]:
    """A 64→H→10 MLP on scikit-learn's bundled ``load_digits`` (no download), and its space.

    SGD with momentum and weight decay; one epoch is a ``lax.scan`` over ``n_batches``
    shuffled minibatches of the first ``batch_size * n_batches`` rows (1408 by default; the
    other 389 rows are the validation set). The value is validation accuracy (``mode="max"``).

    Parameters
    ----------
    widths
        Hidden widths the space chooses from (each one is a static group).
    batch_size, n_batches
        Minibatch size and minibatches per epoch.
    seed
        Seed of the per-trial initial PRNG keys.

    Returns
    -------
    (model, space)
        ``space`` has ``lr`` (log-uniform 1e-3..1), ``weight_decay`` (log-uniform 1e-6..1e-2),
        ``momentum`` (uniform 0.5..0.99) and ``width`` (choice of ``widths``).

    Examples
    --------
    >>> model, space = digits_mlp()  # doctest: +SKIP
    >>> model.train_single({"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 64}, 3)
    ... # doctest: +SKIP
    (0.95..., {...})
    """
    jax = _jax()
    jnp = jax.numpy
    from .. import space as sp

    n_train = batch_size * n_batches
    data = _load_digits(n_train)

    def init(key: Any, hp: Mapping[str, Any]) -> dict[str, Any]:
        width = int(hp["width"])
        k1, k2, k3 = jax.random.split(key, 3)
        params = {
            "w1": jax.random.normal(k1, (64, width), jnp.float32) * np.float32(np.sqrt(2 / 64)),
            "b1": jnp.zeros((width,), jnp.float32),
            "w2": jax.random.normal(k2, (width, 10), jnp.float32) * np.float32(np.sqrt(1 / width)),
            "b2": jnp.zeros((10,), jnp.float32),
        }
        return {"params": params, "mom": jax.tree.map(jnp.zeros_like, params), "key": k3}

    def logits(params: Any, x: Any) -> Any:
        h = jax.nn.relu(x @ params["w1"] + params["b1"])
        return h @ params["w2"] + params["b2"]

    def loss(params: Any, x: Any, y: Any) -> Any:
        lp = jax.nn.log_softmax(logits(params, x))
        return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

    def train_epoch(state: Any, hp: Mapping[str, Any], data: Any) -> Any:
        key, sub = jax.random.split(state["key"])
        perm = jax.random.permutation(sub, n_train)
        xb = data["x_train"][perm].reshape(n_batches, batch_size, -1)
        yb = data["y_train"][perm].reshape(n_batches, batch_size)
        lr, wd, mu = hp["lr"], hp["weight_decay"], hp["momentum"]

        def step(carry: Any, batch: Any) -> Any:
            params, mom = carry
            g = jax.grad(loss)(params, *batch)
            mom = jax.tree.map(lambda m, g_, p: mu * m + g_ + wd * p, mom, g, params)
            params = jax.tree.map(lambda p, m: p - lr * m, params, mom)
            return (params, mom), None

        (params, mom), _ = jax.lax.scan(step, (state["params"], state["mom"]), (xb, yb))
        return {"params": params, "mom": mom, "key": key}

    def evaluate(state: Any, data: Any) -> Any:
        pred = jnp.argmax(logits(state["params"], data["x_val"]), axis=1)
        return jnp.mean((pred == data["y_val"]).astype(jnp.float32))

    model = BatchedModel(init, train_epoch, evaluate, data,
                         dynamic=("lr", "weight_decay", "momentum"), static=("width",), seed=seed)
    space = {
        "lr": sp.loguniform(1e-3, 1.0),
        "weight_decay": sp.loguniform(1e-6, 1e-2),
        "momentum": sp.uniform(0.5, 0.99),
        "width": sp.choice(list(widths)) if len(widths) > 1 else int(widths[0]),
    }
    return model, space
