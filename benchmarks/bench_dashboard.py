"""Search throughput with and without a live Dashboard attached (no front end).

Runs the real :class:`asha_nb.runtime.Search` with a zero-cost objective on the thread
executor, ``--trials`` trials (default 10^4), alternating runs without and with a
:class:`asha_nb.widgets.Dashboard` polling it (its timer thread every 0.25 s, writing into
widgets whose comm has no front end), and prints a table: wall time, trials per second, the
dashboard's overhead (ratio of the medians, measured side by side in this one run), the time
its polls took during a run, and the front-end messages it would have sent (counted by wrapping
``ipywidgets.Widget._send``). Targets: overhead <= 3 %, <= 10 messages/s.

Every run starts after ``gc.collect()``: otherwise the garbage a closed dashboard leaves (its
widgets and chart spec) is collected inside the *next* run, whichever kind it is, and the
order of the runs, not the dashboard, decides the numbers.

A 10^4-trial run lasts well under a second, so its message rate is one or two polls over a
fraction of a second; the rate is therefore also measured on one longer run
(``--rate-trials``, default 5 x 10^4).

Usage: ``python benchmarks/bench_dashboard.py [--trials 10000] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from asha_nb import space
from asha_nb.runtime import Search


def objective(config: dict, resource: float) -> float:
    return config["x"] * resource


def run_once(n_trials: int, dashboard: bool, seed: int) -> dict[str, float]:
    from asha_nb.widgets import Dashboard
    from asha_nb.widgets._sync import count_messages

    s = Search(objective, {"x": space.uniform(0, 1)}, max_trials=n_trials, max_resource=27,
               reduction_factor=3, n_workers=4, seed=seed, progress=False)
    with count_messages() as log:
        d = Dashboard(s) if dashboard else None
        n_before = len(log)
        gc.collect()
        t0 = time.perf_counter()
        s.start()
        s.wait()
        wall = time.perf_counter() - t0
        n_msgs = len(log) - n_before
        busy = 0.0
        if d is not None:
            busy = d._throttle.busy_seconds
            d.close()
    return {"wall": wall, "jobs": len(s.results()), "msgs": n_msgs, "busy": busy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rate-trials", type=int, default=50_000)
    args = ap.parse_args()
    run_once(200, True, 0)  # warm up: imports, JS bundle cache, altair
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for i in range(args.repeats):
        for dash in (False, True) if i % 2 == 0 else (True, False):
            runs[dash].append(run_once(args.trials, dash, seed=i))
    base = statistics.median(r["wall"] for r in runs[False])
    with_d = statistics.median(r["wall"] for r in runs[True])
    msgs = statistics.median(r["msgs"] for r in runs[True])
    busy = statistics.median(r["busy"] for r in runs[True])
    jobs = runs[True][-1]["jobs"]
    print(f"asha_nb dashboard benchmark: {args.trials} trials ({jobs} jobs), zero-cost objective,"
          f" thread executor, 4 workers, median of {args.repeats} alternating runs")
    print(f"{'run':<22}{'wall (s)':>10}{'trials/s':>12}{'messages':>10}{'polls (s)':>11}")
    print(f"{'no dashboard':<22}{base:>10.3f}{args.trials / base:>12.0f}{'-':>10}{'-':>11}")
    print(f"{'live Dashboard':<22}{with_d:>10.3f}{args.trials / with_d:>12.0f}"
          f"{msgs:>10.0f}{busy:>11.3f}")
    print(f"overhead: {100 * (with_d / base - 1):+.1f} %  (target <= 3 %)")
    long = run_once(args.rate_trials, True, seed=99)
    print(f"front-end messages: {long['msgs']} in a {args.rate_trials}-trial run of "
          f"{long['wall']:.2f} s = {long['msgs'] / long['wall']:.1f} per second (target <= 10)")


if __name__ == "__main__":
    main()
