"""torch helpers: checkpoint continuation in two lines, K-model batching, intra-op thread caps.

torch is imported inside the functions, so importing this module does not import torch.

Checkpoint continuation (a promoted trial resumes, it never retrains from zero)::

    from asha_nb.integrations.torch import restore, save

    def objective(config, resource, checkpoint):
        model, opt = make_model(config), make_optimizer(config)
        start = restore(checkpoint, model, opt)          # 0 for a new trial
        for epoch in range(start, int(resource)):
            train_one_epoch(model, opt)
        return evaluate(model), save(model, opt, int(resource))

With the Trial form: ``start = restore(trial.checkpoint, model, opt)`` and
``trial.save(save(model, opt, epoch))``. Checkpoints are plain dicts of CPU tensors, so they
pickle across processes and into the journal.

K models of one architecture at once with ``torch.func`` (``stack_module_state`` +
``functional_call`` + ``vmap(..., in_dims=...)``): :class:`BatchedTorchModel`, whose
:meth:`~BatchedTorchModel.engine` plugs into the ``"jax-batched"`` executor
(:class:`asha_nb.executors.jax_batched.JaxBatchExecutor` accepts any model with an
``engine()``), and :func:`train_batched`.

Threads: ``torch.set_num_threads`` is process-global, not per thread; :func:`limit_threads`
caps it (and BLAS/OpenMP through threadpoolctl when installed) for a block and restores it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, MissingExtraError

__all__ = [
    "save",
    "restore",
    "limit_threads",
    "BatchedTorchModel",
    "train_batched",
    "digits_objective",
    "digits_batched",
]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("torch", "torch") from exc
    return torch


def _to_cpu(obj: Any) -> Any:
    torch = _torch()
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


# ---------------------------------------------------------------------- checkpoints
def save(model: Any, optimizer: Any = None, epoch: int = 0, **extra: Any) -> dict[str, Any]:
    """A picklable checkpoint of ``model`` (and ``optimizer``) after ``epoch`` epochs.

    Parameters
    ----------
    model
        A ``torch.nn.Module``.
    optimizer
        A ``torch.optim.Optimizer`` or ``None``.
    epoch
        Epochs (resource) the model has been trained for; :func:`restore` returns it.
    **extra
        Anything else to keep (schedulers' ``state_dict()``, RNG states...).

    Returns
    -------
    dict
        ``{"model", "optimizer", "epoch", "extra"}`` with every tensor copied to CPU.
    """
    return {
        "model": _to_cpu(model.state_dict()),
        "optimizer": None if optimizer is None else _to_cpu(optimizer.state_dict()),
        "epoch": int(epoch),
        "extra": _to_cpu(extra),
    }


def restore(checkpoint: Mapping[str, Any] | None, model: Any, optimizer: Any = None) -> int:
    """Load a :func:`save` checkpoint into ``model``/``optimizer``; return its epoch (0 if none).

    Parameters
    ----------
    checkpoint
        What :func:`save` returned, or ``None`` (a new trial: nothing is loaded).
    model, optimizer
        Built as for a new trial; tensors are moved to the model's device by ``load_state_dict``.

    Returns
    -------
    int
        The epoch to start training from.
    """
    if checkpoint is None:
        return 0
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise InvalidParameterError(
            "checkpoint must be None or a dict made by asha_nb.integrations.torch.save(), "
            f"got {type(checkpoint).__name__}"
        )
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return int(checkpoint.get("epoch", 0))


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Cap intra-op threads (torch, and BLAS/OpenMP via threadpoolctl) to ``n`` inside a block.

    The cap is **process-global** (``torch.set_num_threads`` applies to every thread of the
    process), so use it around a whole search, not per trial thread: e.g. 2 trial threads on 2
    cores want ``limit_threads(1)``. The previous values are restored on exit.

    Examples
    --------
    >>> from asha_nb.integrations.torch import limit_threads
    >>> with limit_threads(1):  # doctest: +SKIP
    ...     search.run()
    """
    torch = _torch()
    from .._threads import ThreadCap

    before = int(torch.get_num_threads())  # read first: threadpoolctl's OpenMP cap changes it
    cap = ThreadCap(n)
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        cap.restore()
        torch.set_num_threads(before)


# ---------------------------------------------------------------------- batched (torch.func)
def _seeded_init(module: Any, seed: int) -> Any:
    """Re-initialise ``module``'s parameters from ``seed`` (no global RNG: thread-safe)."""
    torch = _torch()
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for _name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=g) * float(np.sqrt(2.0 / fan_in)))
            else:
                p.zero_()
    return module


def _perm(n: int, seed: int, trial_id: int, epoch: int) -> Any:
    torch = _torch()
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(trial_id)) * 10_007 + int(epoch))
    return torch.randperm(n, generator=g)


class BatchedTorchModel:
    """K configurations of one torch architecture trained at once with ``torch.func.vmap``.

    SGD with momentum and weight decay (the update of ``torch.optim.SGD``), with per-model
    ``lr``/``weight_decay``/``momentum`` tensors of shape ``(K,)``. Every model has its own
    initial seed and its own minibatch order (seeded by ``(seed, trial_id, epoch)``), so a
    model's result does not depend on which batch it trained in.

    Parameters
    ----------
    make_module
        ``make_module(static_config) -> nn.Module`` (its parameters are re-initialised from the
        trial's seed).
    data
        ``{"x_train", "y_train", "x_val", "y_val"}`` arrays (numpy or tensors).
    loss
        ``loss(logits, y) -> scalar`` (default cross-entropy); the value is validation accuracy.
    batch_size
        Minibatch size (the last incomplete minibatch is dropped).
    static
        Configuration keys passed to ``make_module`` (each distinct value is a group).
    seed
        Seed of initial weights and minibatch orders.
    """

    def __init__(
        self,
        make_module: Callable[[Mapping[str, Any]], Any],
        data: Mapping[str, Any],
        *,
        loss: Callable[..., Any] | None = None,
        batch_size: int = 128,
        static: Sequence[str] = (),
        seed: int = 0,
    ):
        torch = _torch()
        self.make_module = make_module
        self.data = {k: torch.as_tensor(np.asarray(v)) for k, v in data.items()}
        self.data["y_train"] = self.data["y_train"].long()
        self.data["y_val"] = self.data["y_val"].long()
        self.loss = loss or torch.nn.functional.cross_entropy
        self.batch_size = int(batch_size)
        self.static = tuple(static)
        self.seed = int(seed)
        self.n_compiles = 0  # no compilation in eager torch; kept for the executor's API
        self._base: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def _static(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: config[k] for k in self.static if k in config}

    def _meta(self, static: Mapping[str, Any]) -> Any:
        key = tuple(sorted(static.items()))
        with self._lock:
            if key not in self._base:
                self._base[key] = copy.deepcopy(self.make_module(static)).to("meta")
            return self._base[key]

    def init_row(self, config: Mapping[str, Any], trial_id: int) -> dict[str, Any]:
        """A fresh row state: ``{"params", "mom", "epoch"}`` (CPU tensors)."""
        torch = _torch()
        module = _seeded_init(self.make_module(self._static(config)), self.seed * 7919 + trial_id)
        params = {k: v.detach().clone() for k, v in module.named_parameters()}
        return {"params": params, "mom": {k: torch.zeros_like(v) for k, v in params.items()},
                "epoch": 0, "trial_id": int(trial_id)}

    def train_rows(
        self, rows: Sequence[dict[str, Any]], configs: Sequence[Mapping[str, Any]], n_epochs: int
    ) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Train rows (of one static group) ``n_epochs`` epochs; return new rows and accuracies."""
        torch = _torch()
        from torch.func import functional_call, grad, stack_module_state, vmap  # noqa: F401

        static = self._static(configs[0])
        base = self._meta(static)
        k = len(rows)
        names = list(rows[0]["params"])
        params = {n: torch.stack([r["params"][n] for r in rows]) for n in names}
        mom = {n: torch.stack([r["mom"][n] for r in rows]) for n in names}
        lr = torch.tensor([float(c["lr"]) for c in configs], dtype=torch.float32)
        wd = torch.tensor([float(c.get("weight_decay", 0.0)) for c in configs], dtype=torch.float32)
        mu = torch.tensor([float(c.get("momentum", 0.0)) for c in configs], dtype=torch.float32)
        loss = self.loss

        def loss_fn(p: Any, x: Any, y: Any) -> Any:
            return loss(functional_call(base, p, (x,)), y)

        grad_fn = vmap(grad(loss_fn), in_dims=(0, 0, 0))
        x, y = self.data["x_train"], self.data["y_train"]
        n, bs = x.shape[0], self.batch_size
        nb = n // bs
        shape = lambda v, a: v.view((k,) + (1,) * (a.ndim - 1))  # noqa: E731
        for e in range(n_epochs):
            perms = torch.stack([_perm(n, self.seed, r["trial_id"], r["epoch"] + e) for r in rows])
            for b in range(nb):
                idx = perms[:, b * bs:(b + 1) * bs]
                g = grad_fn(params, x[idx], y[idx])
                with torch.no_grad():
                    for name in names:
                        p = params[name]
                        d = g[name] + shape(wd, p) * p
                        mom[name] = shape(mu, p) * mom[name] + d
                        params[name] = p - shape(lr, p) * mom[name]
        with torch.no_grad():
            logits = vmap(lambda p: functional_call(base, p, (self.data["x_val"],)))(params)
            acc = (logits.argmax(-1) == self.data["y_val"]).float().mean(-1).numpy()
        out = [{"params": {nm: params[nm][i].clone() for nm in names},
                "mom": {nm: mom[nm][i].clone() for nm in names},
                "epoch": rows[i]["epoch"] + n_epochs, "trial_id": rows[i]["trial_id"]}
               for i in range(k)]
        return out, acc

    def __call__(self, config: Mapping[str, Any], resource: float,
                 checkpoint: Any = None) -> tuple[float, dict[str, Any]]:
        """Checkpoint-form objective training one configuration (K = 1) up to ``resource``."""
        row = self.init_row(config, 0) if checkpoint is None else dict(checkpoint)
        rows, acc = self.train_rows([row], [config], int(round(float(resource))) - row["epoch"])
        return float(acc[0]), {**rows[0], "resource": rows[0]["epoch"]}

    def engine(self, capacity: int, *, devices: Any = None, buckets: Any = None) -> _TorchEngine:
        """An engine with the interface of :class:`asha_nb.integrations.jax.BatchEngine`."""
        return _TorchEngine(self, capacity)


class _TorchEngine:
    """Continuous batching for :class:`BatchedTorchModel` (no buckets: eager torch never compiles)."""

    def __init__(self, model: BatchedTorchModel, capacity: int):
        self.model = model
        self.capacity = int(capacity)
        self._rows: dict[Hashable, dict[str, Any]] = {}
        self.n_chunks = 0
        self.epochs_trained = 0
        self._last: dict[Hashable, tuple[int, float]] = {}

    @property
    def n_active(self) -> int:
        return len(self._rows)

    def set_capacity(self, capacity: int) -> None:
        self.capacity = int(capacity)

    def add(self, key: Hashable, trial_id: int, config: Mapping[str, Any], epochs: float,
            checkpoint: Mapping[str, Any] | None = None) -> None:
        state = self.model.init_row(config, trial_id) if checkpoint is None else dict(checkpoint)
        self._rows[key] = {"state": state, "config": dict(config), "remaining": int(round(epochs)),
                           "trained": 0,
                           "group": tuple(sorted(self.model._static(config).items()))}

    def remove(self, key: Hashable) -> bool:
        return self._rows.pop(key, None) is not None

    def step(self, max_epochs: int | None = None) -> list[Any]:
        from .jax import Finished

        if not self._rows:
            return []
        group = min(r["group"] for r in self._rows.values())
        keys = [k for k, r in self._rows.items() if r["group"] == group]
        rows = [self._rows[k] for k in keys]
        n = min(r["remaining"] for r in rows)
        if max_epochs is not None:
            n = min(n, max(1, int(max_epochs)))
        states, acc = self.model.train_rows([r["state"] for r in rows],
                                            [r["config"] for r in rows], n)
        self.n_chunks += 1
        out = []
        self._last = {}
        for key, r, s, a in zip(keys, rows, states, acc):
            r["state"], r["remaining"], r["trained"] = s, r["remaining"] - n, r["trained"] + n
            self.epochs_trained += n
            if r["remaining"] <= 0:
                del self._rows[key]
                ck = {**s, "resource": s["epoch"]}
                out.append(Finished(key, s["trial_id"], float(a), ck, r["trained"]))
            else:
                self._last[key] = (s["epoch"], float(a))
        return out

    def progress(self) -> dict[Hashable, tuple[int, float]]:
        return {k: v for k, v in self._last.items() if k in self._rows}

    def run(self) -> list[Any]:
        out: list[Any] = []
        while self._rows:
            out.extend(self.step())
        return out


def train_batched(
    model: BatchedTorchModel,
    configs: Sequence[Mapping[str, Any]],
    epochs: int,
    *,
    trial_ids: Sequence[int] | None = None,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Train ``configs`` (one static group) from scratch for ``epochs`` epochs as one batch.

    Returns
    -------
    (rows, accuracies)
        Each row is ``{"params", "mom", "epoch", "trial_id"}``; accuracies has shape ``(K,)``.
    """
    ids = list(range(len(configs))) if trial_ids is None else list(trial_ids)
    rows = [model.init_row(c, t) for c, t in zip(configs, ids)]
    return model.train_rows(rows, configs, int(epochs))


# ---------------------------------------------------------------------- digits examples
def _mlp(width: int) -> Any:
    torch = _torch()
    nn = torch.nn
    return nn.Sequential(nn.Linear(64, int(width)), nn.ReLU(), nn.Linear(int(width), 10))


def _digits() -> dict[str, np.ndarray]:
    from .jax import _load_digits

    return _load_digits(1408)


def digits_batched(*, batch_size: int = 128, seed: int = 0) -> BatchedTorchModel:
    """The digits MLP (64→width→10) as a :class:`BatchedTorchModel` (static key ``width``)."""
    return BatchedTorchModel(lambda s: _mlp(s.get("width", 64)), _digits(), batch_size=batch_size,
                             static=("width",), seed=seed)


def digits_objective(
    *, batch_size: int = 128, seed: int = 0
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """A per-trial checkpoint objective training the digits MLP with ``torch.optim.SGD``.

    ``objective(config, resource, checkpoint) -> (val_accuracy, checkpoint)`` resumes from the
    checkpoint with :func:`restore` / :func:`save`; ``objective.epochs_trained`` counts epochs
    actually trained (a promoted trial adds only ``resource - resume_from``).

    Returns
    -------
    (objective, space)
        The same space as :func:`asha_nb.integrations.jax.digits_mlp`.
    """
    torch = _torch()
    from .. import space as sp

    data = {k: torch.as_tensor(v) for k, v in _digits().items()}
    x, y = data["x_train"], data["y_train"].long()
    xv, yv = data["x_val"], data["y_val"].long()
    lock = threading.Lock()

    def objective(config: Mapping[str, Any], resource: float,
                  checkpoint: Any = None) -> tuple[float, dict[str, Any]]:
        tid = int(checkpoint["extra"]["trial_id"]) if checkpoint else abs(hash(
            tuple(sorted((k, float(v)) for k, v in config.items())))) % 100_000
        model = _seeded_init(_mlp(config.get("width", 64)), seed * 7919 + tid)
        opt = torch.optim.SGD(model.parameters(), lr=float(config["lr"]),
                              momentum=float(config["momentum"]),
                              weight_decay=float(config["weight_decay"]))
        start = restore(checkpoint, model, opt)
        end = int(round(float(resource)))
        n = x.shape[0]
        for epoch in range(start, end):
            perm = _perm(n, seed, tid, epoch)
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
    space = {
        "lr": sp.loguniform(1e-3, 1.0),
        "weight_decay": sp.loguniform(1e-6, 1e-2),
        "momentum": sp.uniform(0.5, 0.99),
        "width": 64,
    }
    return objective, space
