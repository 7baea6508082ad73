"""torch helpers of :mod:`asha_nb.integrations.torch` (see there): checkpoints, devices,
thread caps, seeded initial weights and minibatch orders."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, import_extra

__all__ = ["save", "restore", "limit_threads", "seeded_init", "minibatch_order", "DeviceRow",
           "resolve_device"]


def _torch() -> Any:
    return import_extra("torch", "torch")


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

