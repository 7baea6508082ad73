"""A real ASHA search you can run in a terminal: ``python -m asha_nb demo``.

It tunes an ``SGDClassifier`` on scikit-learn's bundled ``load_digits`` (no download) with
:func:`asha_nb.examples.digits_objective`. The resource is the number of ``partial_fit``
epochs; the objective uses the checkpoint form, so a promoted trial continues from its saved
model instead of retraining. Jobs run on threads, the search is journaled to SQLite, and a tqdm
bar shows progress.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from .examples import digits_objective, sgd_space

__all__ = ["main", "simulated"]


def main(journal_dir: str | None = None, n_workers: int = 2, max_trials: int = 30) -> Any:
    """Run the demo search and print the rung table and the best configuration.

    Returns
    -------
    Search
        The finished search.
    """
    from .results import rung_table
    from .runtime import Search

    folder = journal_dir or tempfile.mkdtemp(prefix="asha_nb_demo_")
    os.makedirs(folder, exist_ok=True)
    journal = os.path.join(folder, f"demo-{int(time.time())}.sqlite")
    sp = sgd_space()
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
