"""Training helpers for torch and JAX (imported lazily: this package imports neither).

- :mod:`asha_nb.integrations.jax`: :class:`~asha_nb.integrations.jax.BatchedModel`, the
  description of a JAX model that :class:`asha_nb.executors.BatchedExecutor`
  (``executor="batched"``) trains many configurations of at once ("vmapped batches sharded
  across local devices"), its engine, and JAX's persistent compilation cache
  (:func:`~asha_nb.integrations.jax.enable_compilation_cache`).
- :mod:`asha_nb.integrations.torch`: checkpoint continuation in two lines
  (:func:`~asha_nb.integrations.torch.restore` / :func:`~asha_nb.integrations.torch.save`),
  K-model batching with ``torch.func``
  (:class:`~asha_nb.integrations.torch.BatchedTorchModel`, whose engine plugs into the same
  executor) and :func:`~asha_nb.integrations.torch.limit_threads`.

Both engines follow :class:`asha_nb.executors.batched.BatchEngine`. Ready-made digits models
and objectives are in :mod:`asha_nb.examples`.
"""

from __future__ import annotations

__all__: list[str] = []
