"""Search throughput with and without a live Dashboard attached (no front end).

Runs the real :class:`asha_nb.runtime.Search` with a zero-cost objective on the thread
executor, ``--trials`` trials (default 10^4), alternating runs without and with a
:class:`asha_nb.widgets.Dashboard` subscribed (its timer thread flushing every 0.25 s into
widgets whose comm has no front end), and prints a table: wall time, trials per second, the
dashboard's overhead, and the front-end messages it would have sent per second (counted by
wrapping ``ipywidgets.Widget._send``). Target: overhead <= 3 %, <= 10 messages/s.

Usage: ``python benchmarks/bench_dashboard.py [--trials 10000] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import time

from asha_nb import space
from asha_nb.runtime import Search


def objective(config: dict, resource: float) -> float:
    return config["x"] * resource


def run_once(n_trials: int, dashboard: bool, seed: int) -> tuple[float, int, int, int]:
    from asha_nb.widgets import Dashboard
    from asha_nb.widgets._sync import count_messages

    s = Search(objective, {"x": space.uniform(0, 1)}, max_trials=n_trials, max_resource=27,
               reduction_factor=3, n_workers=4, seed=seed, progress=False)
    with count_messages() as log:
        d = Dashboard(s) if dashboard else None
        n_before = len(log)
        t0 = time.perf_counter()
        s.start()
        s.wait()
        wall = time.perf_counter() - t0
        n_msgs = len(log) - n_before
        if d is not None:
            d.close()
    return wall, len(s.results()), n_msgs, n_trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    run_once(200, True, 0)  # warm up: imports, JS bundle cache, altair
    walls: dict[bool, list[float]] = {False: [], True: []}
    msgs: list[float] = []
    jobs = 0
    for i in range(args.repeats):
        for dash in (False, True) if i % 2 == 0 else (True, False):
            wall, jobs, n_msgs, _ = run_once(args.trials, dash, seed=i)
            walls[dash].append(wall)
            if dash:
                msgs.append(n_msgs / wall)
    base, with_d = statistics.median(walls[False]), statistics.median(walls[True])
    print(f"asha_nb dashboard benchmark: {args.trials} trials ({jobs} jobs), zero-cost objective,"
          f" thread executor, 4 workers, median of {args.repeats}")
    print(f"{'run':<22}{'wall (s)':>10}{'trials/s':>12}{'msgs/s':>10}")
    print(f"{'no dashboard':<22}{base:>10.3f}{args.trials / base:>12.0f}{'-':>10}")
    print(f"{'live Dashboard':<22}{with_d:>10.3f}{args.trials / with_d:>12.0f}"
          f"{statistics.median(msgs):>10.1f}")
    print(f"overhead: {100 * (with_d / base - 1):+.1f} %  (target <= 3 %)")


if __name__ == "__main__":
    main()
