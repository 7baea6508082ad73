"""The JAX model description, its unbatched programs and its engine (see
:mod:`asha_nb.integrations.jax`); the batched programs are in ``_jax_programs``."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, InvalidTypeError
from ..executors.batched import check_engine_options, whole_epochs
from ._jax_cache import (
    compile_counted,
    enable_compilation_cache,
    owned_cache_dir,
    read_compile_seconds,
    record_compile_seconds,
)
from ._jax_common import _abstract, engine_devices, freeze, jax_module
from ._jax_engine import JaxBatchEngine
from ._jax_programs import BatchPrograms

__all__ = ["BatchedModel"]


class BatchedModel(BatchPrograms):
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
    compilation_cache
        JAX's persistent compilation cache, turned on before the first compilation (see
        :func:`~asha_nb.integrations.jax.enable_compilation_cache`): ``None`` (default) for
        ``$ASHA_NB_JAX_CACHE_DIR`` or the user cache folder (``~/.cache/asha_nb/jax``), a
        directory, or ``False`` to leave JAX's settings alone.

    Attributes
    ----------
    n_compiles : int
        Programs XLA compiled in this process (persistent-cache misses).
    n_cache_hits : int
        Programs loaded from JAX's persistent compilation cache instead of compiled.
    compile_seconds : float
        Wall-clock seconds spent compiling or loading programs.
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
        compilation_cache: str | os.PathLike[str] | bool | None = None,
    ):
        for name, fn in (("init", init), ("train_epoch", train_epoch), ("evaluate", evaluate)):
            if not callable(fn):
                raise InvalidTypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.init = init
        self.train_epoch = train_epoch
        self.evaluate = evaluate
        self.data = data
        self.dynamic = tuple(dynamic)
        self.static = None if static is None else tuple(static)
        overlap = set(self.dynamic) & set(self.static or ())
        if overlap:
            raise InvalidParameterError(
                f"dynamic and static must not share keys, got both: {sorted(overlap)}")
        self.seed = int(seed)
        self.compilation_cache = compilation_cache
        self.n_compiles = 0
        self.n_cache_hits = 0
        self.compile_seconds = 0.0
        self._batch_misses: list[float] = []  # compile seconds of batched programs
        self._lock = threading.Lock()
        self._programs: dict[Hashable, cf.Future[Any]] = {}
        self._templates: dict[Hashable, Any] = {}
        self._device_data: dict[Hashable, Any] = {}
        self._cache_ready = False
        self._cache_dir: str | None = None  # asha_nb's own cache folder, when it is in use
        self._recorded: list[float] | None = None  # compile times read from it, once

    # ------------------------------------------------------------------ configurations
    def split(self, config: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
        """Split a configuration into its dynamic (float) and static parts."""
        missing = [k for k in self.dynamic if k not in config]
        if missing:
            raise InvalidParameterError(
                f"config must hold the dynamic keys {list(self.dynamic)}; missing {missing} "
                f"in {dict(config)}")
        dyn = {k: float(config[k]) for k in self.dynamic}
        keys = self.static if self.static is not None else [k for k in config if k not in dyn]
        stat = {k: config[k] for k in keys if k in config}
        return dyn, stat

    def signature(self, config: Mapping[str, Any]) -> Hashable:
        """The static signature of a configuration (configurations with equal ones share programs)."""
        return freeze(self.split(config)[1])

    def template(self, static: Mapping[str, Any]) -> Any:
        """Shapes/dtypes of one configuration's state (``jax.eval_shape``: nothing compiles)."""
        sig = freeze(static)
        with self._lock:
            if sig not in self._templates:
                jax = jax_module()
                dyn = {k: np.float32(0.0) for k in self.dynamic}
                self._templates[sig] = jax.eval_shape(
                    lambda k, d: self.init(k, {**static, **d}), jax.random.PRNGKey(0), dyn)
            return self._templates[sig]

    def device_data(self, sharding: Any) -> Any:
        """The data placed with ``sharding`` (kept, one copy per sharding)."""
        with self._lock:
            if sharding not in self._device_data:
                self._device_data[sharding] = jax_module().device_put(self.data, sharding)
            return self._device_data[sharding]

    # ------------------------------------------------------------------ programs
    def _compiled(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The compiled program ``key``; ``build()`` lowers it the first time (one thread)."""
        with self._lock:
            fut = self._programs.get(key)
            owner = fut is None
            if owner:
                fut = self._programs[key] = cf.Future()
        assert fut is not None
        if owner:  # whatever fails here fails the future too: no thread waits for it forever
            try:
                with self._lock:
                    if not self._cache_ready:
                        folder = enable_compilation_cache(self.compilation_cache)
                        self._cache_dir = (folder if folder is not None
                                           and folder == owned_cache_dir() else None)
                        self._cache_ready = True
                compiled, hit, seconds = compile_counted(build())
            except BaseException as exc:
                with self._lock:
                    del self._programs[key]
                fut.set_exception(exc)
                raise
            fut.set_result(compiled)
            with self._lock:
                self.compile_seconds += seconds
                if hit:
                    self.n_cache_hits += 1
                else:
                    self.n_compiles += 1
                    if isinstance(key, tuple) and key[0] == "batch":
                        self._batch_misses.append(seconds)
                        if self._cache_dir is not None:
                            record_compile_seconds(self._cache_dir, seconds)
        return fut.result()

    def compile_estimate(self, default: float = 1.0) -> float:
        """Seconds a new batched program is expected to take to compile.

        The mean of those compiled in this process; before the first one (when every program so
        far came from the persistent cache, whose load time says nothing about a compile), the
        mean of the last ones recorded in asha_nb's cache folder by earlier processes, so that a
        re-run decides as the first run did; else ``default``.
        """
        with self._lock:
            misses = list(self._batch_misses)
            if not misses and self._cache_dir is not None:
                if self._recorded is None:
                    self._recorded = read_compile_seconds(self._cache_dir)
                misses = self._recorded
        return sum(misses) / len(misses) if misses else float(default)

    def is_compiled(self, key: Hashable) -> bool:
        """Whether the program ``key`` (see :meth:`batch_key`) is compiled in this process."""
        with self._lock:
            fut = self._programs.get(key)
        return fut is not None and fut.done() and fut.exception() is None

    def program_counts(self) -> dict[str, int]:
        """Programs compiled or loaded in this process, by kind (``"batch"``: a chunk of a
        batch; ``"store"``/``"grow"``/``"take"``: the checkpoint pool's, for host checkpoints,
        growth and reads to the host; ``"init"``/``"single"``: the unbatched path)."""
        with self._lock:
            keys = [k for k, f in self._programs.items() if f.done() and f.exception() is None]
        out: dict[str, int] = {}
        for k in keys:
            kind = str(k[0]) if isinstance(k, tuple) else "other"
            out[kind] = out.get(kind, 0) + 1
        return out

    @staticmethod
    def init_key(sig: Hashable) -> Hashable:
        """Key of the ``init`` program of group ``sig``."""
        return ("init", sig)

    def init_program(self, static: Mapping[str, Any]) -> Any:
        """Compiled ``(trial_id: int32, dyn: {key: float32}) -> packed state`` of one configuration.

        The unbatched path's ``init`` (:meth:`init_states`, :meth:`train_single`); the engine
        initialises a batch's new rows inside its :meth:`batch_program`. The state
        comes back *packed*, one flat array per dtype, so that it reaches the host in a few
        transfers.
        """
        jax = jax_module()
        jnp = jax.numpy

        def build() -> Any:
            def program(tid: Any, dyn: Any) -> Any:
                key = jax.random.fold_in(jax.random.PRNGKey(self.seed), tid)
                packed: dict[str, list[Any]] = {}
                for leaf in jax.tree.leaves(self.init(key, {**static, **dyn})):
                    packed.setdefault(np.dtype(leaf.dtype).str, []).append(jnp.ravel(leaf))
                return {k: jnp.concatenate(v) for k, v in packed.items()}

            dyn = {k: jax.ShapeDtypeStruct((), np.float32) for k in self.dynamic}
            return jax.jit(program).lower(jax.ShapeDtypeStruct((), np.int32), dyn)

        return self._compiled(self.init_key(freeze(static)), build)

    def single_program(self, static: Mapping[str, Any]) -> Any:
        """Compiled ``(state, dyn, n_epochs, data) -> (state, value)`` of one configuration."""
        jax = jax_module()
        dev = jax.local_devices()[0]
        one = jax.sharding.SingleDeviceSharding(dev)

        def build() -> Any:
            def program(state: Any, dyn: Any, n_epochs: Any, data: Any) -> Any:
                hp = {**static, **dyn}
                state = jax.lax.fori_loop(0, n_epochs, lambda _, s: self.train_epoch(s, hp, data), state)
                return state, self.evaluate(state, data)

            args = (
                _abstract(self.template(static), one),
                {k: jax.ShapeDtypeStruct((), np.float32, sharding=one) for k in self.dynamic},
                jax.ShapeDtypeStruct((), np.int32, sharding=one),
                _abstract(self.data, one),
            )
            return jax.jit(program).lower(*args)

        return self._compiled(("single", freeze(static), dev.id), build)

    def init_states(self, static: Mapping[str, Any], rows: Sequence[tuple[int, Mapping[str, float]]]) -> Any:
        """Fresh states of ``(trial_id, dynamic values)`` rows, stacked on the host.

        Returns a pytree of numpy arrays with a leading axis of ``len(rows)``.
        """
        jax = jax_module()
        fn = self.init_program(static)
        packed = jax.device_get(
            [fn(np.int32(tid), {k: np.float32(v) for k, v in dyn.items()}) for tid, dyn in rows])
        stacked = {name: np.stack([p[name] for p in packed]) for name in packed[0]}
        leaves, treedef = jax.tree.flatten(self.template(static))
        offset = dict.fromkeys(stacked, 0)
        values = []
        for t in leaves:
            name = np.dtype(t.dtype).str
            n = int(np.prod(t.shape, dtype=np.int64))
            values.append(stacked[name][:, offset[name]:offset[name] + n].reshape(len(rows), *t.shape))
            offset[name] += n
        return jax.tree.unflatten(treedef, values)

    # ------------------------------------------------------------------ one configuration
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
        jax = jax_module()
        dyn, static = self.split(config)
        n = whole_epochs(epochs, "epochs")
        if checkpoint is None:
            tid, done = int(trial_id), 0
            state = jax.tree.map(lambda a: a[0], self.init_states(static, [(tid, dyn)]))
        else:
            tid, done = int(checkpoint.get("trial_id", trial_id)), int(checkpoint.get("resource", 0))
            state = checkpoint["state"]
        fn = self.single_program(static)
        one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        dyn_arr = {k: np.float32(v) for k, v in dyn.items()}
        state, value = fn(state, dyn_arr, np.int32(n), self.device_data(one))
        host = jax.tree.map(np.asarray, jax.device_get(state))
        return float(value), {"state": host, "resource": done + n, "trial_id": tid}

    def __call__(
        self, config: Mapping[str, Any], resource: float, checkpoint: Any = None
    ) -> tuple[float, dict[str, Any]]:
        """Checkpoint-form objective: train one configuration up to ``resource`` epochs.

        Lets the same model run per trial on any executor (thread, process); the batched
        executor does not call it. Every configuration starts from the initial state of
        ``trial_id=0`` (the objective does not know trial ids).
        """
        done = 0 if checkpoint is None else int(checkpoint.get("resource", 0))
        target = whole_epochs(resource, "resource")
        if target < done:
            raise InvalidParameterError(
                f"resource must be >= the checkpoint's {done} epochs, got {resource!r}")
        return self.train_single(config, target - done, checkpoint)

    def engine(
        self,
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
    ) -> JaxBatchEngine:
        """A :class:`~asha_nb.integrations.jax.JaxBatchEngine` over this model (see there).

        ``train_block``: a chunk trains only its live rows, in blocks of that many rows (a
        row's results never depend on the bucket, its slot or the other rows); ``None``: 16
        rows per device on a CPU, or an eighth of the largest bucket if smaller, the largest
        bucket on an accelerator (GPU, TPU). ``pipeline_depth``: chunks of a static group in
        flight (default 2: the next chunk is dispatched before the last one is read).
        ``BatchedExecutor(train_block=..., pipeline_depth=...)`` passes them here, like the
        other options."""
        return JaxBatchEngine(self, capacity, devices=devices, buckets=buckets,
                              compact_after=compact_after, pool_fraction=pool_fraction,
                              max_pool_bytes=max_pool_bytes,
                              progress_interval=progress_interval, train_block=train_block,
                              pipeline_depth=pipeline_depth)

    def check_engine_options(self, *, devices: Sequence[Any] | None = None,
                             train_block: int | None = None,
                             buckets: Sequence[int] | None = None, **options: Any) -> None:
        """Refuse the :meth:`engine` options that cannot work, before any engine is built
        (``BatchedExecutor(model, ...)`` calls it): their ranges
        (:func:`~asha_nb.executors.batched.check_engine_options`), ``devices`` that are not
        JAX devices, a ``train_block`` or ``buckets`` that are not multiples of the device
        count (``jax.local_devices()`` by default)."""
        check_engine_options({"devices": devices, "train_block": train_block,
                              "buckets": buckets, **options})
        nd = len(engine_devices(devices))
        if train_block is not None and train_block % nd:
            raise InvalidParameterError(
                f"train_block must be None or a positive multiple of the device count {nd}, "
                f"got {train_block!r}")
        if buckets is not None and any(int(b) % (train_block or nd) for b in buckets):
            raise InvalidParameterError(
                f"buckets must be multiples of train_block={train_block} (a chunk trains in "
                f"whole blocks), got {tuple(buckets)!r}" if train_block else
                f"buckets must be positive multiples of the device count {nd}, "
                f"got {tuple(buckets)!r}")

    def __repr__(self) -> str:
        return (f"BatchedModel(dynamic={self.dynamic!r}, static={self.static!r}, "
                f"n_compiles={self.n_compiles}, n_cache_hits={self.n_cache_hits})")
