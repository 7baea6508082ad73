"""Training helpers for torch and JAX (imported lazily: this package imports neither).

- :mod:`asha_nb.integrations.jax`: :class:`~asha_nb.integrations.jax.BatchedModel`, the
  description of a JAX model that the ``"jax-batched"`` executor trains many configurations of
  at once ("vmapped batches sharded across local devices"), and
  :func:`~asha_nb.integrations.jax.digits_mlp`, a ready-made example.
- :mod:`asha_nb.integrations.torch`: checkpoint continuation in two lines
  (:func:`~asha_nb.integrations.torch.restore` / :func:`~asha_nb.integrations.torch.save`),
  K-model batching with ``torch.func`` (:func:`~asha_nb.integrations.torch.train_batched`) and
  :func:`~asha_nb.integrations.torch.limit_threads`.
"""

from __future__ import annotations

__all__: list[str] = []
