"""Train many configurations of one JAX model at once: vmapped batches sharded across local devices.

A :class:`BatchedModel` describes a model by three pure, per-configuration functions; its
engine (:class:`JaxBatchEngine`, driven by :class:`asha_nb.executors.BatchedExecutor`,
``executor="batched"``) ``jit``-compiles a ``vmap`` of them over a leading *configuration
axis* ``K`` and places that axis on a 1-D device mesh with
``NamedSharding(Mesh(jax.local_devices(), ("k",)), P("k"))``, so XLA splits the batch across
devices (no ``pmap``).

- ``init(key, hparams) -> state``: a fresh state (any pytree of arrays) for one configuration.
- ``train_epoch(state, hparams, data) -> state``: train one unit of resource (one epoch).
- ``evaluate(state, data) -> scalar``: the value reported to the scheduler.

``hparams`` is a dict holding every key of the configuration: the *dynamic* ones
(``dynamic=("lr", ...)``, continuous values) are traced float32 scalars, so any value runs in
the same compiled program; all other keys are *static* (Python values: widths, depths,
optimizer names). Configurations with equal static values form a *group*; each group has one
program per batch size it uses (a *bucket*, see :class:`JaxBatchEngine` for when a smaller one
is compiled), which initialises new rows, gathers promoted ones from the checkpoint pool,
trains and stores finished rows back into the pool. Only the rows that finish in a chunk are
evaluated (gathered by index inside the same program, padded to a power of two or an eighth of
the batch); every row, once per
``progress_interval`` seconds (the intermediate values of :meth:`JaxBatchEngine.progress`).

Compiled programs are kept on disk by JAX's persistent compilation cache, which a
:class:`BatchedModel` turns on before its first compilation (:func:`enable_compilation_cache`;
default folder ``$XDG_CACHE_HOME/asha_nb/jax`` or ``~/.cache/asha_nb/jax``, changed with
``compilation_cache=`` or ``ASHA_NB_JAX_CACHE_DIR``, off with ``False`` or ``off``): a second
run of the same search, in a new process, loads its programs instead of compiling them.

Training is exact per configuration: every row has its own PRNG key (``fold_in(seed,
trial_id)``), rows never interact, and a row's state stays on the device: its checkpoint is a
:class:`DeviceCheckpoint`, a handle to the group's checkpoint pool in device memory, which the
engine gathers back into a later batch by index; it continues bit-for-bit (on CPU) as it would
have in the original batch. The handle reads and pickles as a dict of numpy arrays
(``{"state", "resource", "trial_id"}``) where host memory needs it (the journal, another
executor), and the pool spills its oldest rows to host memory when it reaches its byte cap.

Examples
--------
The ready-made digits MLP (:func:`asha_nb.examples.digits_mlp`) and an ASHA search on the
batched executor::

    from asha_nb import ASHA, Search
    from asha_nb.examples import digits_mlp

    model, space = digits_mlp()
    search = Search(model, space,
                    scheduler=ASHA(space, min_resource=1, max_resource=27, max_trials=256),
                    executor="batched", n_workers=64)

A model of your own (``dynamic`` hyperparameters are traced, the rest is static)::

    import jax, jax.numpy as jnp

    def init(key, hp):                      # hp["width"] is a Python int here
        return {"w": jax.random.normal(key, (8, hp["width"]))}

    def train_epoch(state, hp, data):       # hp["lr"] is a traced float32 scalar
        g = jax.grad(lambda w: jnp.mean(((data["x"] @ w).sum(1) - data["y"]) ** 2))(state["w"])
        return {"w": state["w"] - hp["lr"] * g}

    def evaluate(state, data):
        return -jnp.mean(((data["x"] @ state["w"]).sum(1) - data["y"]) ** 2)

    model = BatchedModel(init, train_epoch, evaluate, data, dynamic=("lr",))

A :class:`BatchedModel` is also an ordinary checkpoint objective
``model(config, resource, checkpoint) -> (value, checkpoint)`` that trains one configuration,
so the same model runs per trial on the thread executor.
"""

from __future__ import annotations

from ._jax_cache import (
    CACHE_ENV_VAR,
    default_cache_dir,
    enable_compilation_cache,
    resolve_cache_dir,
)
from ._jax_common import bucket_sizes
from ._jax_engine import JaxBatchEngine
from ._jax_model import BatchedModel
from ._jax_pool import DeviceCheckpoint

__all__ = [
    "BatchedModel",
    "JaxBatchEngine",
    "DeviceCheckpoint",
    "bucket_sizes",
    "enable_compilation_cache",
    "default_cache_dir",
    "resolve_cache_dir",
    "CACHE_ENV_VAR",
]
