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

K models of one architecture at once with ``torch.func`` (parameters stacked along a leading
model axis, ``functional_call`` on a ``"meta"`` copy of the module, ``vmap(grad(...),
in_dims=...)``): :class:`BatchedTorchModel`, whose :meth:`~BatchedTorchModel.engine` (a
:class:`TorchBatchEngine`) plugs into :class:`asha_nb.executors.BatchedExecutor`, and
:func:`train_batched`. :func:`seeded_init` and :func:`minibatch_order` give a plain
per-model loop the same initial weights and minibatch order as the batch.

Threads: ``torch.set_num_threads`` is process-global, not per thread; :func:`limit_threads`
caps it (and BLAS/OpenMP through threadpoolctl) for a block and restores it.

The digits examples (a per-trial objective and a :class:`BatchedTorchModel`) are in
:mod:`asha_nb.examples`.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, InvalidTypeError, MissingExtraError
from ..executors.batched import Finished, whole_epochs

__all__ = [
    "save",
    "restore",
    "limit_threads",
    "seeded_init",
    "minibatch_order",
    "BatchedTorchModel",
    "TorchBatchEngine",
    "DeviceRow",
    "resolve_device",
    "train_batched",
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


def resolve_device(device: Any = None) -> Any:
    """``device`` as a ``torch.device``: ``None`` is CUDA when available, else the CPU.

    Raises
    ------
    InvalidParameterError
        For a string torch does not know as a device, or a CUDA device that is not there.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidParameterError: device must be None or a torch device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'
    """
    torch = _torch()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "device must be None or a torch device such as 'cpu', 'cuda' or 'cuda:1', "
            f"got {device!r}") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if dev.index is not None and dev.index >= count or count == 0:
            raise InvalidParameterError(
                f"device must be an available device; {device!r} is not "
                f"({count} CUDA device(s) visible to torch)")
    return dev


class DeviceRow(dict):  # type: ignore[type-arg]
    """A :class:`TorchBatchEngine` checkpoint: its tensors stay on the engine's device.

    A plain dict ``{"params", "mom", "epoch", "trial_id", "resource"}`` while in memory, so a
    promoted row goes back into a batch without leaving the device; pickled (the journal, a
    process pool), it becomes a dict of CPU tensors.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (_to_cpu(dict(self)),))


def _to_device(obj: Any, device: Any) -> Any:
    torch = _torch()
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


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
    cores want ``limit_threads(1)``. Caps nest (the smallest live one holds, see
    :class:`asha_nb._threads.ThreadCap`); the previous values are restored on exit.

    Examples
    --------
    >>> from asha_nb.integrations.torch import limit_threads
    >>> with limit_threads(1):  # doctest: +SKIP
    ...     search.run()
    """
    from .._threads import ThreadCap

    _torch()  # imported first, so that the cap covers torch's threads too
    with ThreadCap(n):
        yield


# ---------------------------------------------------------------------- batched (torch.func)
def seeded_init(module: Any, seed: int) -> Any:
    """Re-initialise ``module``'s parameters from ``seed`` (its own generator: thread-safe).

    Weights (``ndim >= 2``) get He-normal values (``N(0, 2 / fan_in)``), biases zeros. This is
    the initialisation :class:`BatchedTorchModel` gives trial ``t``'s model with
    ``seed * 7919 + t``.

    Returns
    -------
    The same module.
    """
    torch = _torch()
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for _name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * float(np.sqrt(2.0 / p.shape[1])))
            else:
                p.zero_()
    return module


def minibatch_order(n: int, seed: int, trial_id: int, epoch: int) -> Any:
    """The permutation of ``n`` training rows that trial ``trial_id`` uses in ``epoch``.

    Seeded by ``(seed, trial_id, epoch)`` only, so a model's minibatches do not depend on the
    batch it trains in (or on training per trial).
    """
    torch = _torch()
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(trial_id)) * 10_007 + int(epoch))
    return torch.randperm(int(n), generator=g)


class BatchedTorchModel:
    """K configurations of one torch architecture trained at once with ``torch.func.vmap``.

    SGD with momentum and weight decay (the update of ``torch.optim.SGD``), with per-model
    ``lr``/``weight_decay``/``momentum`` tensors of shape ``(K,)``. Every model has its own
    initial weights (:func:`seeded_init` with ``seed * 7919 + trial_id``) and its own minibatch
    order (:func:`minibatch_order`), so a model's result does not depend on which batch it
    trained in.

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
    device
        Where the rows train and stay (data, parameters, momenta, checkpoints): a torch
        device or its name (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``None`` (default): CUDA when
        available, else the CPU (see :func:`resolve_device`).
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
        device: Any = None,
    ):
        torch = _torch()
        self.device = resolve_device(device)
        if not callable(make_module):
            raise InvalidTypeError(f"make_module must be callable, got {type(make_module).__name__}")
        missing = [k for k in ("x_train", "y_train", "x_val", "y_val") if k not in data]
        if missing:
            raise InvalidParameterError(
                f"data must hold x_train, y_train, x_val and y_val; missing {missing}")
        if int(batch_size) < 1 or int(batch_size) > len(data["x_train"]):
            raise InvalidParameterError(
                f"batch_size must be in [1, {len(data['x_train'])}] (the training rows), "
                f"got {batch_size!r}")
        self.make_module = make_module
        self.data = {k: torch.as_tensor(np.asarray(v)) for k, v in data.items()}
        self.data["y_train"] = self.data["y_train"].long()
        self.data["y_val"] = self.data["y_val"].long()
        self.data = {k: v.to(self.device) for k, v in self.data.items()}
        self.loss = loss or torch.nn.functional.cross_entropy
        self.batch_size = int(batch_size)
        self.static = tuple(static)
        self.seed = int(seed)
        self._meta_modules: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def static_part(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration's static keys (what ``make_module`` gets; equal ones share a batch)."""
        return {k: config[k] for k in self.static if k in config}

    def group_key(self, config: Mapping[str, Any]) -> Hashable:
        """Hashable key of the configuration's static part."""
        return tuple(sorted((k, repr(v)) for k, v in self.static_part(config).items()))

    def _meta(self, static: Mapping[str, Any]) -> Any:
        key = self.group_key(static)
        with self._lock:
            if key not in self._meta_modules:
                self._meta_modules[key] = copy.deepcopy(self.make_module(static)).to("meta")
            return self._meta_modules[key]

    def init_row(self, config: Mapping[str, Any], trial_id: int) -> dict[str, Any]:
        """A fresh row state: ``{"params", "mom", "epoch", "trial_id"}`` (tensors on the device)."""
        torch = _torch()
        module = seeded_init(self.make_module(self.static_part(config)), self.seed * 7919 + trial_id)
        params = {k: v.detach().to(self.device, copy=True) for k, v in module.named_parameters()}
        return {"params": params, "mom": {k: torch.zeros_like(v) for k, v in params.items()},
                "epoch": 0, "trial_id": int(trial_id)}

    def train_rows(
        self, rows: Sequence[dict[str, Any]], configs: Sequence[Mapping[str, Any]], n_epochs: int
    ) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Train rows (of one static group) ``n_epochs`` epochs; return new rows and accuracies."""
        torch = _torch()
        from torch.func import functional_call, grad, vmap

        base = self._meta(self.static_part(configs[0]))
        k = len(rows)
        names = list(rows[0]["params"])
        params = {n: torch.stack([r["params"][n] for r in rows]) for n in names}
        mom = {n: torch.stack([r["mom"][n] for r in rows]) for n in names}
        dev = self.device
        lr = torch.tensor([float(c["lr"]) for c in configs], dtype=torch.float32, device=dev)
        wd = torch.tensor([float(c.get("weight_decay", 0.0)) for c in configs], dtype=torch.float32,
                          device=dev)
        mu = torch.tensor([float(c.get("momentum", 0.0)) for c in configs], dtype=torch.float32,
                          device=dev)
        loss = self.loss

        def loss_fn(p: Any, x: Any, y: Any) -> Any:
            return loss(functional_call(base, p, (x,)), y)

        grad_fn = vmap(grad(loss_fn), in_dims=(0, 0, 0))
        x, y = self.data["x_train"], self.data["y_train"]
        n, bs = x.shape[0], self.batch_size

        def per_model(v: Any, a: Any) -> Any:
            return v.view((k,) + (1,) * (a.ndim - 1))

        for e in range(n_epochs):
            perms = torch.stack([minibatch_order(n, self.seed, r["trial_id"], r["epoch"] + e)
                                 for r in rows]).to(dev)
            for b in range(n // bs):
                idx = perms[:, b * bs:(b + 1) * bs]
                g = grad_fn(params, x[idx], y[idx])
                with torch.no_grad():
                    for name in names:
                        p = params[name]
                        mom[name] = per_model(mu, p) * mom[name] + g[name] + per_model(wd, p) * p
                        params[name] = p - per_model(lr, p) * mom[name]
        with torch.no_grad():
            logits = vmap(lambda p: functional_call(base, p, (self.data["x_val"],)))(params)
            acc = (logits.argmax(-1) == self.data["y_val"]).float().mean(-1).cpu().numpy()
        out = [{"params": {nm: params[nm][i].clone() for nm in names},
                "mom": {nm: mom[nm][i].clone() for nm in names},
                "epoch": rows[i]["epoch"] + n_epochs, "trial_id": rows[i]["trial_id"]}
               for i in range(k)]
        return out, acc

    def __call__(self, config: Mapping[str, Any], resource: float,
                 checkpoint: Any = None) -> tuple[float, dict[str, Any]]:
        """Checkpoint-form objective training one configuration (K = 1) up to ``resource``."""
        row = self.init_row(config, 0) if checkpoint is None else self.load_row(checkpoint)
        target = whole_epochs(resource, "resource")
        if target < row["epoch"]:
            raise InvalidParameterError(
                f"resource must be >= the checkpoint's {row['epoch']} epochs, got {resource!r}")
        rows, acc = self.train_rows([row], [config], target - row["epoch"])
        return float(acc[0]), DeviceRow(rows[0], resource=rows[0]["epoch"])

    def load_row(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """A checkpoint (a :class:`DeviceRow` or its pickled CPU dict) as a row on the device."""
        row = dict(checkpoint)
        for part in ("params", "mom"):
            row[part] = _to_device(row[part], self.device)
        return row

    def engine(self, capacity: int) -> TorchBatchEngine:
        """A :class:`TorchBatchEngine` (the :class:`~asha_nb.executors.batched.BatchEngine`
        protocol) training at most ``capacity`` rows at once."""
        return TorchBatchEngine(self, capacity)


class TorchBatchEngine:
    """Continuous batching for :class:`BatchedTorchModel` (the executor's
    :class:`~asha_nb.executors.batched.BatchEngine` protocol).

    Eager torch compiles nothing, so there are no buckets: each :meth:`step` trains every row
    of one static group (groups take turns) for ``min(remaining)`` epochs. Rows stay on the
    model's ``device``: a finished row's checkpoint is a :class:`DeviceRow` (tensors on the
    device) that a promoted job brings back without a host round trip; only the accuracies of
    each chunk (and the minibatch orders, drawn on the CPU) cross between host and device.

    Attributes
    ----------
    n_chunks : int
        Chunks run so far.
    epochs_trained : int
        Model-epochs trained.
    """

    def __init__(self, model: BatchedTorchModel, capacity: int):
        if int(capacity) < 1:
            raise InvalidParameterError(f"capacity must be >= 1, got {capacity!r}")
        self.model = model
        self.capacity = int(capacity)
        self._rows: dict[Hashable, dict[str, Any]] = {}
        self._turn = 0
        self.n_chunks = 0
        self.epochs_trained = 0
        self._last: dict[Hashable, tuple[int, float]] = {}

    @property
    def n_active(self) -> int:
        """Rows added and neither finished nor removed."""
        return len(self._rows)

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity (rows are never padded: nothing else changes)."""
        if int(capacity) < 1:
            raise InvalidParameterError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = int(capacity)

    def add(self, key: Hashable, trial_id: int, config: Mapping[str, Any], epochs: float,
            checkpoint: Mapping[str, Any] | None = None) -> None:
        """Queue a row: train ``config`` ``epochs`` more epochs from ``checkpoint`` (or scratch)."""
        if key in self._rows:
            raise InvalidParameterError(f"key must be new to the engine, got {key!r} twice")
        n = whole_epochs(epochs, "epochs")
        state = (self.model.init_row(config, trial_id) if checkpoint is None
                 else self.model.load_row(checkpoint))
        self._rows[key] = {"state": state, "config": dict(config), "remaining": n, "trained": 0,
                           "group": self.model.group_key(config)}

    def remove(self, key: Hashable) -> bool:
        """Drop a row (a stopped job); return whether it was there."""
        return self._rows.pop(key, None) is not None

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Train one group's rows one chunk; return the rows that finished."""
        if not self._rows:
            return []
        groups = list(dict.fromkeys(r["group"] for r in self._rows.values()))
        group = groups[self._turn % len(groups)]
        self._turn += 1
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
                out.append(Finished(key, s["trial_id"], float(a),
                                    DeviceRow(s, resource=s["epoch"]), r["trained"]))
            else:
                self._last[key] = (s["epoch"], float(a))
        return out

    def progress(self) -> dict[Hashable, tuple[int, float]]:
        """``key -> (resource, value)`` of the rows still training after the last :meth:`step`."""
        return {k: v for k, v in self._last.items() if k in self._rows}

    def run(self) -> list[Finished]:
        """Step until every row has finished; return them all."""
        out: list[Finished] = []
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
    if len(ids) != len(configs):
        raise InvalidParameterError(
            f"trial_ids must have one id per configuration ({len(configs)}), got {len(ids)}")
    rows = [model.init_row(c, t) for c, t in zip(configs, ids)]
    return model.train_rows(rows, configs, whole_epochs(epochs))
