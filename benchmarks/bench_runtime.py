"""Runtime overhead benchmark (a script, not a test): ``python benchmarks/bench_runtime.py``.

1. Search on 2 threads running 10 ms sleep jobs: worker busy fraction (target >= 0.97) and
   jobs/s versus ``ThreadPoolExecutor.map`` of the same jobs in the same run (target >= 0.95).
2. Journal cost per appended event (µs), and the same search with a journal.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import tempfile
import time

from asha_nb import space
from asha_nb.runtime import Journal, Search

SLEEP = 0.010
N_TRIALS = 200
N_WORKERS = 2


def job(config, resource):
    time.sleep(SLEEP)
    return config["x"]


def run_search(journal=None):
    s = Search(job, {"x": space.uniform(0, 1)}, max_trials=N_TRIALS, min_resource=1,
               max_resource=9, reduction_factor=3, seed=0, n_workers=N_WORKERS, journal=journal,
               progress=False)
    t0 = time.perf_counter()
    s.run()
    wall = time.perf_counter() - t0
    recs = s.records()
    busy = sum(r.end - r.start for r in recs)
    return len(recs), wall, busy / (N_WORKERS * wall)


def run_pool(n_jobs):
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(N_WORKERS) as pool:
        list(pool.map(lambda i: job({"x": 0.5}, 1), range(n_jobs)))
    return time.perf_counter() - t0


def journal_cost(n=5000):
    d = tempfile.mkdtemp()
    j = Journal(os.path.join(d, "bench.sqlite"))
    t0 = time.perf_counter()
    for i in range(n):
        j.append("report", job_id=i, trial_id=i, value=0.5)
    dt = time.perf_counter() - t0
    j.close()
    return dt / n * 1e6


def main() -> int:
    n_jobs, wall, busy = run_search()
    pool_wall = run_pool(n_jobs)
    rate, pool_rate = n_jobs / wall, n_jobs / pool_wall
    nj, wall_j, busy_j = run_search(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    us = journal_cost()
    rows = [
        ("jobs", f"{n_jobs}"),
        ("search jobs/s (2 threads, 10 ms jobs)", f"{rate:.1f}"),
        ("ThreadPoolExecutor.map jobs/s", f"{pool_rate:.1f}"),
        ("ratio search / pool (target >= 0.95)", f"{rate / pool_rate:.3f}"),
        ("worker busy fraction (target >= 0.97)", f"{busy:.3f}"),
        ("with journal: jobs/s", f"{nj / wall_j:.1f}"),
        ("with journal: busy fraction", f"{busy_j:.3f}"),
        ("journal append cost per event (µs)", f"{us:.1f}"),
    ]
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{w}}  {b:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
