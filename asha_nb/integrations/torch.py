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

from ._torch_batched import BatchedTorchModel, TorchBatchEngine, train_batched
from ._torch_util import (
    DeviceRow,
    limit_threads,
    minibatch_order,
    resolve_device,
    restore,
    save,
    seeded_init,
)

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
