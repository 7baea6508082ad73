"""Ready-made examples on scikit-learn's bundled digits (8×8 images, no download).

One place for the data, objectives and models that the demo (``python -m asha_nb demo``), the
tutorial notebooks and the benchmarks use:

- :func:`digits_data`: the data, split once (1408 training rows, 389 validation rows).
- :func:`digits_objective` and :func:`sgd_space`: scikit-learn's ``SGDClassifier``, the
  checkpoint-form objective of the demo and the first notebooks.
- :func:`torch_digits_objective`: a 64→width→10 torch MLP trained per trial with
  ``torch.optim.SGD``, resuming from checkpoints (:mod:`asha_nb.integrations.torch`).
- :func:`torch_digits_batched`: the same MLP as a ``torch.func`` batch
  (:class:`~asha_nb.integrations.torch.BatchedTorchModel`).
- :func:`digits_mlp`: the same MLP as a JAX
  :class:`~asha_nb.integrations.jax.BatchedModel` (vmapped batches sharded over devices).

The three MLPs share :func:`mlp_space` and train the same way (SGD with momentum and weight
decay, minibatches of 128, reshuffled every epoch); the value is validation accuracy
(``mode="max"``). Importing this module imports neither scikit-learn, torch nor JAX.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidParameterError, MissingExtraError, import_extra

if TYPE_CHECKING:  # pragma: no cover
    from .integrations.jax import BatchedModel
    from .integrations.torch import BatchedTorchModel

__all__ = [
    "digits_data",
    "digits_objective",
    "sgd_space",
    "mlp_space",
    "torch_mlp",
    "torch_digits_objective",
    "torch_digits_batched",
    "digits_mlp",
]

#: Rows of the digits data used for training (11 minibatches of 128); the other 389 validate.
N_TRAIN = 1408


@functools.lru_cache(maxsize=4)
def _digits(n_train: int) -> dict[str, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("sklearn", "scikit-learn") from exc
    x, y = load_digits(return_X_y=True)
    if not 1 <= n_train < len(x):
        raise InvalidParameterError(f"n_train must be in [1, {len(x) - 1}], got {n_train!r}")
    perm = np.random.RandomState(0).permutation(len(x))
    x = (x[perm] / 16.0).astype(np.float32)
    y = y[perm].astype(np.int32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_val": x[n_train:], "y_val": y[n_train:]}


def digits_data(n_train: int = N_TRAIN) -> dict[str, np.ndarray]:
    """scikit-learn's digits, shuffled once (seed 0) and split into training and validation rows.

    Parameters
    ----------
    n_train
        Training rows (the first ``n_train`` of the shuffled 1797); the rest validate.

    Returns
    -------
    dict
        ``x_train`` (float32, pixels scaled to [0, 1], shape ``(n_train, 64)``), ``y_train``
        (int32 labels 0..9), ``x_val``, ``y_val``; fresh copies (loaded once per process).

    Examples
    --------
    >>> d = digits_data()
    >>> d["x_train"].shape, d["x_val"].shape, d["y_train"].dtype
    ((1408, 64), (389, 64), dtype('int32'))
    """
    return {k: v.copy() for k, v in _digits(int(n_train)).items()}


# ---------------------------------------------------------------------- scikit-learn
def sgd_space() -> dict[str, Any]:
    """The search space of :func:`digits_objective`: ``alpha``, ``eta0`` and ``loss``."""
    from . import space

    return {
        "alpha": space.loguniform(1e-6, 1e-1),
        "eta0": space.loguniform(1e-4, 1.0),
        "loss": space.choice(["hinge", "log_loss", "modified_huber"]),
    }


def digits_objective(config: Mapping[str, Any], resource: float,
                     checkpoint: Any = None) -> tuple[float, Any]:
    """Train an ``SGDClassifier`` for ``resource`` epochs in total; return (val accuracy, checkpoint).

    The checkpoint form: a promoted trial gets back ``(model, epochs)`` and continues with
    ``partial_fit`` instead of retraining. Each epoch also sleeps 10 ms, so that the demo's and
    the notebooks' timelines show the jobs.

    Examples
    --------
    >>> acc, (model, epochs) = digits_objective({"alpha": 1e-4, "eta0": 0.01, "loss": "hinge"}, 1)
    >>> 0.0 <= acc <= 1.0, epochs
    (True, 1)
    """
    from sklearn.linear_model import SGDClassifier

    d = digits_data()
    if checkpoint is None:
        model, done = SGDClassifier(alpha=config["alpha"], eta0=config["eta0"], loss=config["loss"],
                                    learning_rate="constant", random_state=0), 0
    else:
        model, done = checkpoint
    classes = np.arange(10)
    for _ in range(int(done), int(resource)):
        model.partial_fit(d["x_train"], d["y_train"], classes=classes)
        time.sleep(0.01)
    return float(model.score(d["x_val"], d["y_val"])), (model, resource)


# ---------------------------------------------------------------------- the MLP
def mlp_space(widths: Sequence[int] = (64,)) -> dict[str, Any]:
    """The space of the digits MLPs: ``lr``, ``weight_decay``, ``momentum`` and ``width``.

    ``lr`` log-uniform in [1e-3, 1], ``weight_decay`` log-uniform in [1e-6, 1e-2], ``momentum``
    uniform in [0.5, 0.99], ``width`` one of ``widths`` (a constant if there is one).
    """
    from . import space

    widths = [int(w) for w in widths]
    if not widths or min(widths) < 1:
        raise InvalidParameterError(f"widths must be one or more ints >= 1, got {widths!r}")
    return {
        "lr": space.loguniform(1e-3, 1.0),
        "weight_decay": space.loguniform(1e-6, 1e-2),
        "momentum": space.uniform(0.5, 0.99),
        "width": space.choice(widths) if len(widths) > 1 else widths[0],
    }


def torch_mlp(width: int = 64) -> Any:
    """``nn.Sequential(Linear(64, width), ReLU(), Linear(width, 10))``."""
    nn = _torch().nn
    return nn.Sequential(nn.Linear(64, int(width)), nn.ReLU(), nn.Linear(int(width), 10))


def _torch() -> Any:
    return import_extra("torch", "torch")


def _jax() -> Any:
    return import_extra("jax", "jax")


def _config_seed(config: Mapping[str, Any]) -> int:
    """A stable id for a configuration (the checkpoint-form objective does not know trial ids)."""
    return zlib.crc32(repr(sorted((str(k), repr(v)) for k, v in config.items())).encode()) % 100_000


def torch_digits_objective(
    *, batch_size: int = 128, seed: int = 0, device: Any = None
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """A per-trial checkpoint objective training the digits MLP with ``torch.optim.SGD``.

    ``objective(config, resource, checkpoint) -> (val_accuracy, checkpoint)`` resumes from the
    checkpoint with :func:`~asha_nb.integrations.torch.restore` /
    :func:`~asha_nb.integrations.torch.save`; ``objective.epochs_trained`` counts the epochs
    actually trained (a promoted trial adds only ``resource - resume_from``). A configuration's
    initial weights and minibatch order come from a stable hash of the configuration.

    Parameters
    ----------
    batch_size, seed
        Minibatch size; seed of initial weights and minibatch orders.
    device
        Where each trial trains (``"cpu"``, ``"cuda"``...; ``None``: CUDA when available, see
        :func:`~asha_nb.integrations.torch.resolve_device`). Checkpoints are CPU tensors.

    Returns
    -------
    (objective, space)
        ``space`` is :func:`mlp_space`.
    """
    from .integrations.torch import minibatch_order, resolve_device, restore, save, seeded_init

    torch = _torch()
    dev = resolve_device(device)

    d = digits_data()
    x, y = torch.as_tensor(d["x_train"]).to(dev), torch.as_tensor(d["y_train"]).long().to(dev)
    xv, yv = torch.as_tensor(d["x_val"]).to(dev), torch.as_tensor(d["y_val"]).long().to(dev)
    lock = threading.Lock()

    def objective(config: Mapping[str, Any], resource: float,
                  checkpoint: Any = None) -> tuple[float, dict[str, Any]]:
        tid = int(checkpoint["extra"]["trial_id"]) if checkpoint else _config_seed(config)
        model = seeded_init(torch_mlp(config.get("width", 64)), seed * 7919 + tid).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=float(config["lr"]),
                              momentum=float(config["momentum"]),
                              weight_decay=float(config["weight_decay"]))
        start = restore(checkpoint, model, opt)
        end = int(round(float(resource)))
        n = x.shape[0]
        for epoch in range(start, end):
            perm = minibatch_order(n, seed, tid, epoch).to(dev)
            for b in range(n // batch_size):
                idx = perm[b * batch_size:(b + 1) * batch_size]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        with lock:
            objective.epochs_trained += max(0, end - start)  # type: ignore[attr-defined]
        with torch.no_grad():
            acc = float((model(xv).argmax(-1) == yv).float().mean())
        return acc, save(model, opt, end, trial_id=tid)

    objective.epochs_trained = 0  # type: ignore[attr-defined]
    return objective, mlp_space()


def torch_digits_batched(
    *, batch_size: int = 128, seed: int = 0, device: Any = None
) -> BatchedTorchModel:
    """The digits MLP as a :class:`~asha_nb.integrations.torch.BatchedTorchModel`.

    Static key ``width``; trial ``t`` starts from the same weights as
    ``seeded_init(torch_mlp(width), seed * 7919 + t)``. Use :func:`mlp_space` as its space.
    ``device``: where the batch trains and its checkpoints stay (``None``: CUDA when
    available, else the CPU).
    """
    from .integrations.torch import BatchedTorchModel

    return BatchedTorchModel(lambda s: torch_mlp(s.get("width", 64)), digits_data(),
                             batch_size=batch_size, static=("width",), seed=seed, device=device)


def digits_mlp(
    *,
    widths: Sequence[int] = (64,),
    batch_size: int = 128,
    n_batches: int = 11,
    seed: int = 0,
    compilation_cache: str | os.PathLike[str] | bool | None = None,
) -> tuple[BatchedModel, dict[str, Any]]:
    """The digits MLP (64→H→10) as a JAX :class:`~asha_nb.integrations.jax.BatchedModel`.

    SGD with momentum and weight decay; one epoch is a ``lax.scan`` over ``n_batches``
    minibatches of ``batch_size`` rows, reshuffled every epoch from the row's own PRNG key.
    Initial weights are He-normal from one draw; biases and momenta start at zero.

    Parameters
    ----------
    widths
        Hidden widths the space chooses from (each one is a static group).
    batch_size, n_batches
        Minibatch size and minibatches per epoch: the first ``batch_size * n_batches`` rows of
        the shuffled data train (1408 by default), the others validate.
    seed
        Seed of the per-trial initial PRNG keys.
    compilation_cache
        See :class:`~asha_nb.integrations.jax.BatchedModel`.

    Returns
    -------
    (model, space)
        ``space`` is :func:`mlp_space` of ``widths``.
    """
    from .integrations.jax import BatchedModel

    jax = _jax()
    jnp = jax.numpy
    n_train = int(batch_size) * int(n_batches)
    data = digits_data(n_train)

    def init(key: Any, hp: Mapping[str, Any]) -> dict[str, Any]:
        width = int(hp["width"])
        k_weights, k_state = jax.random.split(key)
        z = jax.random.normal(k_weights, (64 * width + width * 10,), jnp.float32)  # one draw
        params = {
            "w1": z[: 64 * width].reshape(64, width) * np.float32(np.sqrt(2 / 64)),
            "b1": jnp.zeros((width,), jnp.float32),
            "w2": z[64 * width:].reshape(width, 10) * np.float32(np.sqrt(1 / width)),
            "b2": jnp.zeros((10,), jnp.float32),
        }
        return {"params": params, "mom": jax.tree.map(jnp.zeros_like, params), "key": k_state}

    def logits(params: Any, x: Any) -> Any:
        h = jax.nn.relu(x @ params["w1"] + params["b1"])
        return h @ params["w2"] + params["b2"]

    def loss(params: Any, x: Any, y: Any) -> Any:
        lp = jax.nn.log_softmax(logits(params, x))
        return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

    def train_epoch(state: Any, hp: Mapping[str, Any], data: Any) -> Any:
        # one draw per epoch: the next key (a raw uint32[2] key) and random sort keys, whose
        # argsort is the epoch's shuffle (what jax.random.permutation does; one PRNG call
        # instead of a split and a permutation, which matters for compile time on a CPU)
        bits = jax.random.bits(state["key"], (n_train + 2,), jnp.uint32)
        key, perm = bits[:2], jnp.argsort(bits[2:])
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
                         dynamic=("lr", "weight_decay", "momentum"), static=("width",), seed=seed,
                         compilation_cache=compilation_cache)
    return model, mlp_space(widths)
