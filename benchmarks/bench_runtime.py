"""Runtime benchmarks (a script, not a test): ``python benchmarks/bench_runtime.py [--quick]``.

Every ratio is measured side by side in one run (alternating repeats, medians): these machines
are shared and noisy, so absolute numbers move between runs while ratios hold.

1. Runtime cost per rung evaluation: a zero-cost objective on 1 thread worker through the public
   ``Search`` API, at 10^4 and 10^5 trials, next to a bare ``ThreadPoolExecutor(1)``
   submit-and-wait of the same objective and to the scheduler core alone (target: runtime <=
   1.25x the bare pool).
2. Memory per trial of a search with ``max_trials=None`` (target <= 0.7 KB).
3. Reading a long search (virtual time, 10^6 trials, 1.33 * 10^6 jobs): ``search.trials``
   (target <= 1.5 s) and ``results()`` (target <= 1.5 s), each next to the way it was built
   before (one snapshot object per trial; config columns looked up per job).
4. Busy fraction with real 10 ms jobs on 2 threads, against ``ThreadPoolExecutor.map`` (target
   >= 0.98 of its jobs/s), with and without a journal; journal cost per event.
5. The simulator (the same loop in virtual time): 10^4 trials on 64 workers.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gc
import os
import statistics
import sys
import tempfile
import time

from asha_nb import ASHA, simulate, space
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Journal, Search
from asha_nb.synthetic import SyntheticBenchmark

SP = {"x": space.uniform(0, 1)}


def zero(config, resource):
    return config["x"] * resource


def bare_us(n_jobs: int) -> float:
    with cf.ThreadPoolExecutor(1) as pool:
        cfg = {"x": 0.5}
        t0 = time.perf_counter()
        for _ in range(n_jobs):
            pool.submit(zero, cfg, 1).result()
        return (time.perf_counter() - t0) / n_jobs * 1e6


def runtime_us(n_trials: int) -> tuple[float, int]:
    s = Search(zero, SP, max_trials=n_trials, max_resource=27, reduction_factor=3, n_workers=1,
               seed=0, progress=False)
    t0 = time.perf_counter()
    s.run()
    dt = time.perf_counter() - t0
    n = s.snapshot().n_jobs
    return dt / n * 1e6, n


def core_us(n_trials: int) -> float:
    sched = ASHA(SP, min_resource=1, max_resource=27, reduction_factor=3, max_trials=n_trials,
                 seed=0)
    n = 0
    t0 = time.perf_counter()
    while not sched.is_finished:
        job = sched.next_job()
        sched.report(job, zero(job.config, job.resource))
        n += 1
    return (time.perf_counter() - t0) / n * 1e6


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_trial(n_trials: int) -> float:
    """A search with max_trials=None on the thread executor, stopped after n_trials."""
    gc.collect()
    before = rss_bytes()
    s = Search(zero, SP, max_resource=27, reduction_factor=3, n_workers=1, seed=0,
               progress=False)
    s.start()
    while s.snapshot().n_started < n_trials:
        time.sleep(0.05)
    s.stop()
    n = s.snapshot().n_started
    gc.collect()
    return (rss_bytes() - before) / n


def old_trials(s: Search) -> object:
    """``search.trials`` as it was built before: one snapshot object and one dict per trial."""
    import pandas as pd

    rows = []
    for t in s.scheduler.snapshot().trials:
        row = {"trial_id": t.trial_id, "status": t.status.value, "rung": t.rung,
               "bracket": t.bracket, "value": t.values[-1][1] if t.values else None,
               "error": t.error}
        row.update({f"config_{k}": v for k, v in t.config.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def old_results(s: Search) -> object:
    """``results()`` as it was built before: config columns from the record store."""
    import pandas as pd

    return pd.DataFrame(s._loop.store.columns(configs=True))


def long_search_reads(n_trials: int, repeats: int) -> dict[str, float]:
    """Seconds (medians of alternating repeats) to read a search of ``n_trials`` trials built
    in virtual time: ``trials`` and ``results()``, new and old."""
    s = Search(zero, {"x": space.uniform(0, 1), "act": space.choice(["relu", "tanh"])},
               max_trials=n_trials, max_resource=3, reduction_factor=3, n_workers=64, seed=0,
               progress=False, executor=SimulatedExecutor(cost=1.0)).run()
    ways = {"trials": lambda: s.trials, "trials_old": lambda: old_trials(s),
            "results": lambda: s.results(), "results_old": lambda: old_results(s)}
    for fn in ways.values():  # first calls pay imports (pandas string arrays, ...): untimed
        fn()
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["n_trials"] = float(s.scheduler.n_trials)
    out["n_rows"] = float(len(s.records()))
    return out


def sleep10(config, resource):
    time.sleep(0.010)
    return config["x"]


def busy_run(journal: str | None) -> tuple[int, float, float]:
    s = Search(sleep10, SP, max_trials=200, min_resource=1, max_resource=9, reduction_factor=3,
               seed=0, n_workers=2, journal=journal, progress=False)
    t0 = time.perf_counter()
    s.run()
    wall = time.perf_counter() - t0
    recs = s.records()
    busy = sum(r.end - r.start for r in recs)
    return len(recs), wall, busy / (2 * wall)


def pool_map(n_jobs: int) -> float:
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: sleep10({"x": 0.5}, 1), range(n_jobs)))
    return time.perf_counter() - t0


def journal_us(n: int = 5000) -> float:
    d = tempfile.mkdtemp()
    j = Journal.create(os.path.join(d, "bench.sqlite"))
    t0 = time.perf_counter()
    for i in range(n):
        j.append("report", time=float(i), job_id=i, trial_id=i, value=0.5)
    dt = time.perf_counter() - t0
    j.close()
    return dt / n * 1e6


def table(rows: list[tuple[str, str]]) -> None:
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{w}}  {b:>12}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = ap.parse_args()
    sizes = (2_000,) if args.quick else (10_000, 100_000)
    repeats = 1 if args.quick else 3

    print("1. Runtime per rung evaluation (zero-cost objective, 1 thread worker), medians of "
          f"{repeats} alternating runs")
    print(f"{'trials':>8} {'jobs':>8} {'runtime us':>11} {'bare pool us':>13} {'ratio':>6} "
          f"{'core us':>8}")
    for n in sizes:
        rt, bare, core = [], [], []
        jobs = 0
        for _ in range(repeats):
            us, jobs = runtime_us(n)
            rt.append(us)
            bare.append(bare_us(jobs))
            core.append(core_us(n))
        r, b, c = statistics.median(rt), statistics.median(bare), statistics.median(core)
        print(f"{n:>8} {jobs:>8} {r:>11.1f} {b:>13.1f} {r / b:>6.2f} {c:>8.1f}")

    print("\n2-5. Memory, results(), busy fraction, journal, simulator")
    mem = memory_per_trial(5_000 if args.quick else 50_000)
    reads = long_search_reads(20_000 if args.quick else 1_000_000, repeats)
    n_trials, n_rows = int(reads["n_trials"]), int(reads["n_rows"])
    n_jobs, wall, busy = busy_run(None)
    pool_wall = pool_map(n_jobs)
    nj, wall_j, busy_j = busy_run(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    bench = SyntheticBenchmark()
    t0 = time.perf_counter()
    res = simulate(ASHA(bench.space, min_resource=1, max_resource=81, reduction_factor=3,
                        max_trials=10_000, seed=0), bench, n_workers=64,
                   straggler_probability=0.1, seed=0)
    sim = time.perf_counter() - t0
    table([
        ("memory per trial, max_trials=None (KB; target <= 0.7)", f"{mem / 1024:.2f}"),
        (f"search.trials of {n_trials} trials (s; target <= 1.5)", f"{reads['trials']:.2f}"),
        ("  the old way (one snapshot per trial) (s)", f"{reads['trials_old']:.2f}"),
        (f"results() of {n_rows} rows (s; target <= 1.5)", f"{reads['results']:.2f}"),
        ("  the old way (config columns per job) (s)", f"{reads['results_old']:.2f}"),
        ("search jobs/s (2 threads, 10 ms jobs)", f"{n_jobs / wall:.1f}"),
        ("ThreadPoolExecutor.map jobs/s", f"{n_jobs / pool_wall:.1f}"),
        ("ratio search / pool (target >= 0.98)", f"{(n_jobs / wall) / (n_jobs / pool_wall):.3f}"),
        ("worker busy fraction", f"{busy:.3f}"),
        ("with journal: ratio to pool", f"{(nj / wall_j) / (n_jobs / pool_wall):.3f}"),
        ("with journal: busy fraction", f"{busy_j:.3f}"),
        ("journal append cost per event (us)", f"{journal_us():.1f}"),
        (f"simulator: 10^4 trials, {res.n_jobs} jobs, 64 workers (s)", f"{sim:.3f}"),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
