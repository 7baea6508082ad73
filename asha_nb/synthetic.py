"""A synthetic multi-fidelity benchmark: crossing learning curves and size-dependent cost.

Used by the simulator's examples, the teaching view, the tests and the benchmarks. It is cheap
(a few arithmetic operations per evaluation) and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .space import Space, choice, loguniform, uniform

__all__ = ["SyntheticBenchmark"]


class SyntheticBenchmark:
    """Learning curves ``acc(t) = a * (1 - exp(-k t)) + noise`` that cross.

    A larger learning rate learns faster (larger ``k``) but plateaus lower (smaller ``a``), so
    configurations that lead after one epoch are often not the best after 81: exactly the case
    where early stopping can be wrong and successive halving's rungs matter. Wider models
    plateau a little higher and cost more per resource unit (``cost``), which makes job
    durations differ between configurations.

    Parameters
    ----------
    noise
        Amplitude of the deterministic evaluation noise at resource 1 (it shrinks as
        ``1 / sqrt(resource)``).
    max_resource
        Resource at which curves are considered converged (only informative).

    Examples
    --------
    >>> from asha_nb.synthetic import SyntheticBenchmark
    >>> bench = SyntheticBenchmark()
    >>> fast, slow = {"lr": 0.5, "width": 64, "dropout": 0.1}, {"lr": 0.01, "width": 64, "dropout": 0.1}
    >>> bench.objective(fast, 1) > bench.objective(slow, 1)
    True
    >>> bench.objective(fast, 81) < bench.objective(slow, 81)
    True
    """

    mode = "max"

    def __init__(self, noise: float = 0.01, max_resource: float = 81):
        self.noise = float(noise)
        self.max_resource = max_resource
        self.space = Space(
            {
                "lr": loguniform(1e-3, 1.0),
                "width": choice([32, 64, 128, 256]),
                "dropout": uniform(0.0, 0.5),
            }
        )

    def params(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """``(asymptote a, rate k)`` of a configuration's curve."""
        lr = float(config["lr"])
        width = float(config["width"])
        dropout = float(config["dropout"])
        a = 0.98 - 0.3 * lr - 0.2 * (dropout - 0.15) ** 2 + 0.01 * math.log2(width / 32)
        k = 1.5 * lr**0.7 / (1.0 + dropout)
        return a, k

    def objective(self, config: Mapping[str, Any], resource: float) -> float:
        """Validation accuracy of ``config`` after ``resource`` epochs (higher is better)."""
        a, k = self.params(config)
        h = math.sin(config["lr"] * 12989.8 + config["dropout"] * 7823.3 + resource * 37.719)
        h = h * 43758.5453
        eps = (h - math.floor(h)) - 0.5
        return a * (1.0 - math.exp(-k * resource)) + 2 * self.noise * eps / math.sqrt(resource)

    def __call__(self, config: Mapping[str, Any], resource: float) -> float:
        return self.objective(config, resource)

    def cost(self, config: Mapping[str, Any], resource: float) -> float:
        """Seconds to train ``config`` from scratch to ``resource`` (wider is slower)."""
        return resource * (0.5 + float(config["width"]) / 128.0)

    def __repr__(self) -> str:
        return f"SyntheticBenchmark(noise={self.noise!r})"
