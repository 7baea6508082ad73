"""The batched programs of a :class:`~asha_nb.integrations.jax.BatchedModel` (a mixin):
one chunk of a batch, and the checkpoint pool's store, grow and take."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ._jax_common import _abstract, _mesh_ids, _where, eval_blocks, freeze, jax_module

__all__ = ["BatchPrograms"]


class BatchPrograms:
    """Builds and keeps the batched programs; :class:`BatchedModel` provides the members below."""

    init: Callable[..., Any]
    train_epoch: Callable[..., Any]
    evaluate: Callable[..., Any]
    data: Any
    dynamic: tuple[str, ...]
    seed: int

    def _compiled(self, key: Hashable, build: Callable[[], Any]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def template(self, static: Mapping[str, Any]) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def batch_key(sig: Hashable, size: int, mesh: Any, pool_size: int,
                  block: int | None = None) -> Hashable:
        """Key of the batched program of group ``sig`` for ``size`` rows on ``mesh`` with a
        checkpoint pool of ``pool_size`` rows, training in blocks of ``block`` rows (``None``:
        ``size``; see :meth:`batch_program`)."""
        return ("batch", sig, int(size), _mesh_ids(mesh), int(pool_size),
                int(size if block is None else block))

    def batch_program(self, static: Mapping[str, Any], size: int, pool_size: int, mesh: Any,
                      block: int | None = None) -> Any:
        """Compiled ``(state, pool, data, idx, meta) -> (state, pool, values)``: one chunk
        of ``size`` rows, new rows and checkpoints in and out included.

        Every leaf of ``state`` and ``pool`` has a leading axis (``size`` rows, ``pool_size``
        for the checkpoint pool), sharded over ``mesh``'s axis ``"k"``. ``idx`` (int32, shape
        ``(5 + len(dynamic), size)``) holds, per row, ``src``, ``tids``, ``dst``, ``order``,
        ``flags`` and the bits of each float32 dynamic hyperparameter (the rows' ``dyn``);
        ``meta`` (int32) holds ``n_epochs``, ``full``, ``n_blocks`` and ``counts`` (one per
        :func:`~asha_nb.integrations._jax_common.eval_blocks` size): one host-to-device copy
        each per chunk. First, row ``i`` becomes ``pool[src[i]]`` where ``flags[i] & 1``
        (promoted rows, gathered by index), and a fresh state (``init(fold_in(PRNGKey(seed),
        tids[i]), hparams)``) where ``flags[i] & 2``: vmapped over each training block that
        has a new row (over the batch, when some row is new, with one block). Then ``n_epochs`` epochs (traced: one program for every chunk
        length) train the rows ``order[:n_blocks * block]`` (``order`` lists the live rows
        first), in ``n_blocks`` blocks of ``block`` rows (``block`` divides ``size`` and is a
        multiple of the device count; default ``size``): the rows are gathered in that order,
        each block is trained in turn (a loop whose trip count is ``n_blocks``: one program
        whatever the live rows), and the rows are scattered back; the other slots keep their
        state (a row placed in an empty slot later overwrites it). Every row thus trains in a
        batch of exactly ``block`` rows (``block / n_devices`` per device) whatever ``size``,
        its slot or the other rows, so its results are the same, bit for bit, in every bucket
        (XLA's code for a CPU may round differently for different batch shapes). Then row
        ``i`` is written to ``pool[dst[i]]`` (``dst[i] == pool_size``: not written). Then,
        where ``full`` is 1, every row is evaluated (``values[i]``: row ``i``'s); else the
        rows ``order[:n]`` (``n`` the rows that finish, first in ``order``) are, in
        ``counts[j]`` blocks of ``eval_blocks(size)[j]`` rows for each ``j`` in turn
        (``values[k]``: row ``order[k]``'s, for ``k < n``; zeros after): no more rows than
        those evaluated, and one program whatever ``n``. The state's and the pool's buffers
        are donated (updated in place).
        """
        jax = jax_module()
        jnp = jax.numpy
        from jax.sharding import NamedSharding, PartitionSpec

        rows, repl = NamedSharding(mesh, PartitionSpec("k")), NamedSharding(mesh, PartitionSpec())
        blk = int(size if block is None else block)
        if blk < 1 or size % blk or blk % len(_mesh_ids(mesh)):
            raise InvalidParameterError(
                f"block must divide size={size} and be a multiple of the device count "
                f"{len(_mesh_ids(mesh))}, got {block!r}")

        def build() -> Any:
            def program(state: Any, pool: Any, data: Any, idx: Any, meta: Any) -> Any:
                src, tids, dst, order, flags = idx[0], idx[1], idx[2], idx[3], idx[4]
                dyn = jax.lax.with_sharding_constraint(
                    {k: jax.lax.bitcast_convert_type(idx[5 + j], jnp.float32)
                     for j, k in enumerate(self.dynamic)}, rows)
                load, take_new = (flags & 1) != 0, (flags & 2) != 0
                n_epochs, full, n_blocks, counts = meta[0], meta[1] != 0, meta[2], meta[3:]

                def fresh() -> Any:
                    base = jax.random.PRNGKey(self.seed)
                    new = jax.vmap(lambda t, d: self.init(jax.random.fold_in(base, t),
                                                          {**static, **d}))(tids, dyn)
                    return jax.tree.map(lambda n, s: n.astype(s.dtype), new, state)

                state = jax.lax.cond(  # promoted rows, gathered from the pool
                    jnp.any(load),
                    lambda: jax.tree.map(lambda s, p: _where(load)(p[src], s), state, pool),
                    lambda: state)

                def epochs(s: Any, d: Any) -> Any:
                    step = jax.vmap(lambda s1, d1: self.train_epoch(s1, {**static, **d1}, data))
                    return jax.lax.fori_loop(0, n_epochs, lambda _, s1: step(s1, d), s)

                if blk == size:  # one block: the batch as it is (0 or 1 times)
                    new = jax.lax.cond(jnp.any(take_new), fresh, lambda: state)
                    state = jax.tree.map(lambda s, n: _where(take_new)(n, s), state, new)
                    state = jax.lax.fori_loop(0, n_blocks, lambda _, s: epochs(s, dyn), state)
                else:  # live rows first (``order``), in blocks of blk rows, each sharded
                    def one(b: Any, state: Any) -> Any:
                        ids = jax.lax.dynamic_slice_in_dim(order, b * blk, blk)
                        s, d, t, tn = jax.lax.with_sharding_constraint(jax.tree.map(
                            lambda a: a[ids], (state, dyn, tids, take_new)), rows)

                        def init() -> Any:  # the block's new rows (new rows are live rows)
                            base = jax.random.PRNGKey(self.seed)
                            made = jax.vmap(lambda t1, d1: self.init(
                                jax.random.fold_in(base, t1), {**static, **d1}))(t, d)
                            return jax.tree.map(
                                lambda n, s1: _where(tn)(n.astype(s1.dtype), s1), made, s)

                        s = epochs(jax.lax.cond(jnp.any(tn), init, lambda: s), d)
                        return jax.tree.map(
                            lambda a, x: a.at[ids].set(x, unique_indices=True), state, s)

                    state = jax.lax.fori_loop(0, n_blocks, one, state)
                pool = jax.tree.map(lambda p, s: p.at[dst].set(s, mode="drop"), pool, state)

                def evaluate_all(s: Any) -> Any:
                    return jax.vmap(lambda s1: self.evaluate(s1, data))(s)

                out = jax.eval_shape(evaluate_all, state)

                def evaluate_some(s: Any) -> Any:
                    values, off = jnp.zeros(out.shape, out.dtype), jnp.int32(0)
                    for j, b in enumerate(eval_blocks(size)):
                        def block(_: Any, carry: Any, b: int = b) -> Any:
                            vals, at = carry
                            ids = jax.lax.dynamic_slice_in_dim(order, at, b)
                            rows = jax.tree.map(lambda a: a[ids], s)
                            vals = jax.lax.dynamic_update_slice_in_dim(
                                vals, evaluate_all(rows), at, 0)
                            return vals, at + b
                        values, off = jax.lax.fori_loop(0, counts[j], block, (values, off))
                    return values

                return state, pool, jax.lax.cond(full, evaluate_all, evaluate_some, state)

            tmpl = self.template(static)
            args = (
                _abstract(tmpl, rows, lead=size), _abstract(tmpl, rows, lead=pool_size),
                _abstract(self.data, repl),
                jax.ShapeDtypeStruct((5 + len(self.dynamic), size), np.int32, sharding=repl),
                jax.ShapeDtypeStruct((3 + len(eval_blocks(size)),), np.int32, sharding=repl),
            )
            return jax.jit(program, out_shardings=(rows, rows, rows),
                           donate_argnums=(0, 1)).lower(*args)

        return self._compiled(self.batch_key(freeze(static), size, mesh, pool_size, blk), build)

    def store_program(self, static: Mapping[str, Any], size: int, pool_size: int, mesh: Any) -> Any:
        """Compiled ``(pool, state, dst) -> pool``: row ``i`` of ``state`` written to
        ``pool[dst[i]]`` (``dst[i] == pool_size``: not written). The pool is donated. Used
        for checkpoints that come from host memory."""
        jax = jax_module()
        from jax.sharding import NamedSharding, PartitionSpec

        rows = NamedSharding(mesh, PartitionSpec("k"))

        def build() -> Any:
            def program(pool: Any, state: Any, dst: Any) -> Any:
                return jax.tree.map(lambda p, s: p.at[dst].set(s, mode="drop"), pool, state)

            tmpl = self.template(static)
            args = (_abstract(tmpl, rows, lead=pool_size), _abstract(tmpl, rows, lead=size),
                    jax.ShapeDtypeStruct((size,), np.int32, sharding=rows))
            return jax.jit(program, out_shardings=rows, donate_argnums=(0,)).lower(*args)

        key = ("store", freeze(static), int(size), int(pool_size), _mesh_ids(mesh))
        return self._compiled(key, build)

    def zeros_program(self, static: Mapping[str, Any], n: int, mesh: Any) -> Any:
        """Compiled ``() -> rows``: ``n`` zero rows of group ``static``'s state, made on the
        devices (a new batch's or pool's buffers: nothing is copied from host memory, which
        for a pool of large models on an accelerator would be gigabytes)."""
        jax = jax_module()
        jnp = jax.numpy
        from jax.sharding import NamedSharding, PartitionSpec

        rows = NamedSharding(mesh, PartitionSpec("k"))
        tmpl = self.template(static)

        def build() -> Any:
            def program() -> Any:
                return jax.tree.map(lambda t: jnp.zeros((n, *t.shape), t.dtype), tmpl)

            return jax.jit(program, out_shardings=rows).lower()

        key = ("zeros", freeze(static), int(n), _mesh_ids(mesh))
        return self._compiled(key, build)

    def grow_program(self, static: Mapping[str, Any], pool_size: int, new_size: int, mesh: Any) -> Any:
        """Compiled ``pool -> pool``: the checkpoint pool padded from ``pool_size`` to
        ``new_size`` rows."""
        jax = jax_module()
        jnp = jax.numpy
        from jax.sharding import NamedSharding, PartitionSpec

        rows = NamedSharding(mesh, PartitionSpec("k"))
        tmpl = self.template(static)

        def build() -> Any:
            def program(pool: Any) -> Any:
                return jax.tree.map(
                    lambda p: jnp.concatenate(
                        [p, jnp.zeros((new_size - pool_size, *p.shape[1:]), p.dtype)]), pool)

            return jax.jit(program, out_shardings=rows).lower(_abstract(tmpl, rows, lead=pool_size))

        key = ("grow", freeze(static), int(pool_size), int(new_size), _mesh_ids(mesh))
        return self._compiled(key, build)

    def take_program(self, static: Mapping[str, Any], pool_size: int, mesh: Any) -> Any:
        """Compiled ``(pool, slots: int32[m]) -> rows``: ``m`` rows of the pool (to bring to
        the host), ``m`` a power of two."""
        jax = jax_module()
        from jax.sharding import NamedSharding, PartitionSpec

        rows, repl = NamedSharding(mesh, PartitionSpec("k")), NamedSharding(mesh, PartitionSpec())
        tmpl = self.template(static)

        def build(m: int) -> Any:
            def program(pool: Any, slots: Any) -> Any:
                return jax.tree.map(lambda p: p[slots], pool)

            args = (_abstract(tmpl, rows, lead=pool_size),
                    jax.ShapeDtypeStruct((m,), np.int32, sharding=repl))
            return jax.jit(program, out_shardings=repl).lower(*args)

        ids = _mesh_ids(mesh)
        sig = freeze(static)

        def take(pool: Any, slots: Sequence[int]) -> Any:
            m = 1 << max(0, (len(slots) - 1).bit_length())
            idx = np.zeros(m, np.int32)
            idx[: len(slots)] = slots
            fn = self._compiled(("take", sig, int(pool_size), m, ids), lambda: build(m))
            return fn(pool, idx)

        return take
