"""Scheduler overhead and simulator benchmarks (issue: core engine).

Run with ``make bench`` (or ``python benchmarks/bench_core.py [--quick]``). Prints:

1. µs per rung-evaluation (one ``next_job`` + one ``report``) of ASHA driven sequentially with
   a zero-cost objective, eta 3, resources 1..81, at 10^3 .. 10^6 configurations; side by side
   with a naive ASHA that rescans and sorts each rung per decision (the design Optuna's pruner
   has), measured in the same run where it is affordable.
2. Simulator throughput (jobs per second of virtual-time simulation).
3. Sync (SHA) versus async (ASHA) utilization for 4, 16, 64 and 1,000 simulated workers.
"""

from __future__ import annotations

import argparse
import math
import time

from asha_nb import ASHA, SHA, simulate, space
from asha_nb.synthetic import SyntheticBenchmark

SPACE = {"x": space.uniform(0, 1)}


def asha_us_per_eval(n_configs: int) -> tuple[float, int]:
    sched = ASHA(SPACE, min_resource=1, max_resource=81, reduction_factor=3, max_trials=n_configs,
                 seed=0)
    next_job, report = sched.next_job, sched.report
    n = 0
    t0 = time.perf_counter()
    while True:
        job = next_job()
        if job is None:
            break
        report(job, 0.5 + 0.1 * math.sin(job.trial_id * 12.9898 + job.rung))
        n += 1
    return (time.perf_counter() - t0) / n * 1e6, n


class NaiveASHA:
    """Reference: same Algorithm 2, but every decision sorts each rung (O(n log n))."""

    def __init__(self, n_configs: int, eta: int = 3, top: int = 4):
        self.n_configs, self.eta, self.top = n_configs, eta, top
        self.rungs: list[dict[int, float]] = [{} for _ in range(top + 1)]
        self.promoted: list[set[int]] = [set() for _ in range(top + 1)]
        self.created = 0

    def next_job(self):
        for k in range(self.top - 1, -1, -1):
            rung = self.rungs[k]
            ranked = sorted(rung, key=lambda t: -rung[t])[: len(rung) // self.eta]
            for t in ranked:
                if t not in self.promoted[k]:
                    self.promoted[k].add(t)
                    return t, k + 1
        if self.created < self.n_configs:
            self.created += 1
            return self.created - 1, 0
        return None

    def report(self, job, value):
        self.rungs[job[1]][job[0]] = value


def naive_us_per_eval(n_configs: int) -> float:
    sched = NaiveASHA(n_configs)
    n = 0
    t0 = time.perf_counter()
    while True:
        job = sched.next_job()
        if job is None:
            break
        sched.report(job, 0.5 + 0.1 * math.sin(job[0] * 12.9898 + job[1]))
        n += 1
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    args = ap.parse_args()
    sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5, 10**6]
    naive_sizes = {10**3, 10**4} if not args.quick else {10**3}

    print("1. Scheduler overhead: ASHA, eta 3, resources 1..81, zero-cost objective, sequential")
    print(f"{'configs':>10} {'evals':>10} {'asha_nb us/eval':>16} {'naive us/eval':>14} {'naive/asha_nb':>14}")
    results = {}
    for n in sizes:
        us, evals = asha_us_per_eval(n)
        results[n] = us
        if n in naive_sizes:
            nv = naive_us_per_eval(n)
            print(f"{n:>10} {evals:>10} {us:>16.2f} {nv:>14.1f} {nv / us:>13.0f}x")
        else:
            print(f"{n:>10} {evals:>10} {us:>16.2f} {'-':>14} {'-':>14}")
    if 10**4 in results:
        print(f"   target <= 25 us at 10^4: {'OK' if results[10**4] <= 25 else 'MISSED'} "
              f"({results[10**4]:.2f} us)")
    big = max(results)
    if big > 10**4:
        print(f"   growth 10^4 -> {big:.0e}: {results[big] / results[10**4]:.2f}x (target <= 1.5x)")

    print("\n2. Simulator throughput (ASHA, 64 workers, stragglers 10%)")
    bench = SyntheticBenchmark()
    n_trials = 2000 if args.quick else 10_000
    t0 = time.perf_counter()
    res = simulate(ASHA(bench.space, min_resource=1, max_resource=81, reduction_factor=3,
                        max_trials=n_trials, seed=0), bench, n_workers=64,
                   straggler_probability=0.1, seed=0)
    dt = time.perf_counter() - t0
    print(f"   {n_trials} trials, {res.n_jobs} jobs in {dt:.3f} s = {res.n_jobs / dt:,.0f} jobs/s")

    print("\n3. Utilization, sync SHA vs async ASHA (eta 4, resources 1..64, cost 1 s/unit, "
          "20% stragglers x3)")
    print("   SHA runs n_configs = 4 x workers (at least 64); ASHA runs to SHA's makespan.")
    print(f"{'workers':>8} {'configs':>8} {'SHA util':>9} {'ASHA util':>10} {'SHA idle':>10} "
          f"{'ASHA idle':>10} {'ASHA configs':>13}")
    kw = dict(min_resource=1, max_resource=64, reduction_factor=4)
    for w in ([4, 16, 64] if args.quick else [4, 16, 64, 1000]):
        n = max(64, 4 * w)
        s = simulate(SHA(bench.space, n_configs=n, seed=0, **kw), bench, n_workers=w, cost=1.0,
                     straggler_probability=0.2, seed=0)
        a = simulate(ASHA(bench.space, seed=0, **kw), bench, n_workers=w, cost=1.0,
                     straggler_probability=0.2, max_time=s.makespan, seed=0)
        print(f"{w:>8} {n:>8} {s.utilization:>9.2f} {a.utilization:>10.2f} {s.idle_time:>10.0f} "
              f"{a.idle_time:>10.0f} {a.n_trials:>13}")


if __name__ == "__main__":
    main()
