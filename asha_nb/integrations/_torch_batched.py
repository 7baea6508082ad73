"""K-model batching of torch modules with ``torch.func`` (see :mod:`asha_nb.integrations.torch`)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, InvalidTypeError
from ..executors.batched import Finished, whole_epochs
from ._torch_util import DeviceRow, _to_device, _torch, minibatch_order, resolve_device, seeded_init

__all__ = ["BatchedTorchModel", "TorchBatchEngine", "train_batched"]


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
        self._started: list[tuple[Hashable, float]] = []

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
                           "group": self.model.group_key(config), "started": False}

    def remove(self, key: Hashable) -> bool:
        """Drop a row (a stopped job); return whether it was there."""
        return self._rows.pop(key, None) is not None

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Train one group's rows one chunk (at most ``capacity`` of them, in the order they
        were added); return the rows that finished."""
        if not self._rows:
            return []
        groups = list(dict.fromkeys(r["group"] for r in self._rows.values()))
        group = groups[self._turn % len(groups)]
        self._turn += 1
        # at most ``capacity`` rows, the oldest first: the others wait in the queue
        keys = [k for k, r in self._rows.items() if r["group"] == group][: self.capacity]
        rows = [self._rows[k] for k in keys]
        t_start = time.perf_counter()
        for key, r in zip(keys, rows):
            if not r["started"]:  # its first chunk: the job begins training now
                r["started"] = True
                self._started.append((key, t_start))
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

    def take_started(self) -> list[tuple[Hashable, float]]:
        """``(key, time.perf_counter())`` of the rows that began training since the last call
        (rows beyond ``capacity`` wait until a step takes them)."""
        out, self._started = self._started, []
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
