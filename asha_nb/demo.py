"""A real ASHA search you can run in a terminal: ``python -m asha_nb demo``.

It tunes an ``SGDClassifier`` on scikit-learn's bundled ``load_digits`` (no download). The
resource is the number of ``partial_fit`` epochs; the objective uses the checkpoint form, so a
promoted trial continues from its saved model instead of retraining. Jobs run on threads, the
search is journaled to SQLite, and a tqdm bar shows progress.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

__all__ = ["main", "digits_objective", "simulated"]


def _data() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va


_DATA: tuple[Any, Any, Any, Any] | None = None


def digits_objective(config: dict[str, Any], resource: float, checkpoint: Any = None) -> tuple[float, Any]:
    """Train an SGDClassifier for ``resource`` epochs total; return (val accuracy, model).

    Examples
    --------
    >>> acc, model = digits_objective({"alpha": 1e-4, "eta0": 0.01, "loss": "hinge"}, 1)
    >>> 0.0 <= acc <= 1.0
    True
    """
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    global _DATA
    if _DATA is None:
        _DATA = _data()
    X_tr, X_va, y_tr, y_va = _DATA
    if checkpoint is None:
        model, done = SGDClassifier(alpha=config["alpha"], eta0=config["eta0"], loss=config["loss"],
                                    learning_rate="constant", random_state=0), 0
    else:
        model, done = checkpoint
    classes = np.unique(y_tr)
    for _ in range(int(done), int(resource)):
        model.partial_fit(X_tr, y_tr, classes=classes)
        time.sleep(0.01)  # make the demo's timeline visible
    return float(model.score(X_va, y_va)), (model, resource)


def main(journal_dir: str | None = None, n_workers: int = 2, max_trials: int = 30) -> Any:
    """Run the demo search and print the rung table and the best configuration.

    Returns
    -------
    Search
        The finished search.
    """
    from . import space
    from .results import rung_table
    from .runtime import Search

    folder = journal_dir or tempfile.mkdtemp(prefix="asha_nb_demo_")
    os.makedirs(folder, exist_ok=True)
    journal = os.path.join(folder, f"demo-{int(time.time())}.sqlite")
    sp = {
        "alpha": space.loguniform(1e-6, 1e-1),
        "eta0": space.loguniform(1e-4, 1.0),
        "loss": space.choice(["hinge", "log_loss", "modified_huber"]),
    }
    print(f"ASHA demo: SGDClassifier on load_digits, {max_trials} trials, {n_workers} threads")
    print(f"journal: {journal}")
    search = Search(digits_objective, sp, executor="thread", n_workers=n_workers, journal=journal,
                    max_trials=max_trials, min_resource=1, max_resource=27, reduction_factor=3,
                    seed=0, progress=True)
    t0 = time.perf_counter()
    search.run()
    print(f"\nfinished in {time.perf_counter() - t0:.1f}s ({search.state})\n")
    print("rung table:")
    print(rung_table(search.records(), mode="max").to_string(index=False))
    best = search.best
    if best is not None:
        print(f"\nbest: trial {best['trial_id']} accuracy {best['value']:.4f} after "
              f"{best['resource']} epochs")
        for k, v in best["config"].items():
            print(f"  {k} = {v!r}")
    return search


def simulated() -> None:
    """Print the rung table of a simulated ASHA run (virtual time, instant)."""
    from . import ASHA, simulate
    from .synthetic import SyntheticBenchmark

    bench = SyntheticBenchmark()
    res = simulate(ASHA(bench.space, min_resource=1, max_resource=64, reduction_factor=4,
                        max_trials=64, seed=1), bench, n_workers=8)
    print(res.jobs_per_rung())
    print(res.summary())


if __name__ == "__main__":  # pragma: no cover
    main()
