"""Helpers shared by the JAX model and its engine (see :mod:`asha_nb.integrations.jax`).

The modules import in one direction: ``_jax_model`` -> ``_jax_engine`` -> ``_jax_layout`` ->
``_jax_pool`` -> this module (and ``_jax_model`` -> ``_jax_programs`` -> this module).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, import_extra

__all__ = ["jax_module", "freeze", "eval_blocks", "block_counts", "bucket_sizes",
           "default_train_block", "engine_devices", "pack_chunk"]


def jax_module() -> Any:
    """``import jax``, or :class:`~asha_nb.errors.MissingExtraError` naming the extra."""
    return import_extra("jax", "jax")


def engine_devices(devices: Sequence[Any] | None) -> list[Any]:
    """An engine's devices (``None``: ``jax.local_devices()``), refused unless JAX devices."""
    jax = jax_module()
    devs = list(jax.local_devices()) if devices is None else list(devices)
    if not all(isinstance(d, jax.Device) for d in devs):
        raise InvalidParameterError(
            f"devices must be JAX devices (e.g. jax.local_devices()[:2]), got {devices!r}")
    return devs


def freeze(value: Any) -> Hashable:
    """A hashable, order-independent version of a configuration's static part."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _where(mask: Any) -> Callable[[Any, Any], Any]:
    """``(a, b) -> where(mask, a, b)`` with ``mask`` broadcast over the leaves' trailing axes."""
    jnp = jax_module().numpy
    return lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)


def eval_blocks(size: int) -> tuple[int, ...]:
    """Block sizes in which a batch of ``size`` rows evaluates its finished rows: an eighth of
    the batch, then an eighth of that, and so on, and 1. ``n`` finished rows take
    ``n // blocks[0]`` blocks of the first size, then what is left in blocks of the next, so
    exactly ``n`` rows are evaluated, in at most 7 blocks per size (more than 1 in the last).

    >>> eval_blocks(256), eval_blocks(1024), eval_blocks(8)
    ((32, 4, 1), (128, 16, 2, 1), (1,))
    """
    out, b = [], int(size) // 8
    while b > 1:
        out.append(b)
        b //= 8
    return (*out, 1)


def block_counts(n: int, blocks: Sequence[int]) -> np.ndarray:
    """How many blocks of each of ``blocks`` (:func:`eval_blocks`) evaluate ``n`` rows.

    >>> block_counts(37, (32, 4, 1)).tolist()
    [1, 1, 1]
    """
    out = np.zeros(len(blocks), np.int32)
    for j, b in enumerate(blocks):
        out[j], n = divmod(n, b)
    return out


def _mesh_ids(mesh: Any) -> tuple[int, ...]:
    return tuple(d.id for d in mesh.devices.flat)


def _abstract(tree: Any, sharding: Any, lead: int | None = None) -> Any:
    """``jax.ShapeDtypeStruct`` leaves of ``tree`` (with a leading axis ``lead``) on ``sharding``."""
    jax = jax_module()

    def leaf(a: Any) -> Any:
        a = a if hasattr(a, "dtype") and hasattr(a, "shape") else np.asarray(a)
        shape = tuple(a.shape) if lead is None else (lead, *a.shape)
        return jax.ShapeDtypeStruct(shape, a.dtype, sharding=sharding)

    return jax.tree.map(leaf, tree)




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


def default_train_block(capacity: int, n_devices: int = 1, cpu: bool = True,
                        buckets: Sequence[int] | None = None) -> int:
    """The rows per training block an engine picks when it is not told (``train_block=None``).

    On CPU devices 16 rows per device, or an eighth of the largest default bucket
    (:func:`bucket_sizes`; at least one row per device) if that is smaller: a block of 16 rows
    trains as fast per row as the whole batch, and smaller batches train fewer empty slots (an
    ASHA search's model-epochs/s on digits at K = 8 and 32 on this project's CPU: 1.5-1.8x those
    of one block); on accelerators, where empty rows cost little and large batches are what
    make them fast, the largest bucket (one block: the whole batch). With ``buckets`` given:
    the largest number of rows that divides every bucket and ``16 * n_devices`` (CPU), or every
    bucket (accelerators).

    >>> default_train_block(256), default_train_block(256, 4), default_train_block(8, 4)
    (16, 32, 4)
    >>> default_train_block(256, 4, cpu=False), default_train_block(20, cpu=True, buckets=(8, 12))
    (256, 4)
    """
    if buckets is None:
        largest = bucket_sizes(capacity, n_devices)[-1]
        eighth = max(n_devices, largest // 8 // n_devices * n_devices)
        return min(16 * n_devices, eighth) if cpu else largest
    return math.gcd(16 * n_devices if cpu else 0, *(int(b) for b in buckets))


def pack_chunk(src: np.ndarray, tids: np.ndarray, dst: np.ndarray, order: np.ndarray,
               load: np.ndarray, take_new: np.ndarray, n_epochs: int, full: bool, n_blocks: int,
               counts: np.ndarray, dyn: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The ``(idx, meta)`` arguments of a batched program (see ``BatchPrograms.batch_program``):
    the per-row values (``dyn``: float32 hyperparameters, their bits) in one int32 array.

    >>> idx, meta = pack_chunk(*(np.arange(3),) * 4, np.array([1, 0, 0], bool),
    ...                        np.array([0, 1, 0], bool), 2, False, 0, np.array([1, 0]),
    ...                        [np.array([0.5, 0.25, 1.0], np.float32)])
    >>> idx[4].tolist(), meta.tolist(), idx[5].view(np.float32).tolist()
    ([1, 2, 0], [2, 0, 0, 1, 0], [0.5, 0.25, 1.0])
    """
    idx = np.empty((5 + len(dyn), len(src)), np.int32)
    idx[0], idx[1], idx[2], idx[3] = src, tids, dst, order
    np.add(load.astype(np.int32), 2 * take_new.astype(np.int32), out=idx[4])
    for j, values in enumerate(dyn):
        idx[5 + j] = np.asarray(values, np.float32).view(np.int32)
    meta = np.empty(3 + len(counts), np.int32)
    meta[0], meta[1], meta[2] = n_epochs, int(full), n_blocks
    meta[3:] = counts
    return idx, meta

