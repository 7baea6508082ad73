"""Run real asha_nb searches on ``mpi4py.futures.MPIPoolExecutor`` and write what happened.

Run by ``tests/executors/test_mpi.py`` in a subprocess (MPI is initialised in this process,
never in pytest's)::

    python tests/executors/_mpi_search.py OUT.json LOGDIR
    python tests/executors/_mpi_search.py OUT.json JOURNAL crash

Needs Open MPI (``.ci/install-mpi``) and mpi4py (``pip install "asha_nb[mpi]"``); as root or on
a machine with fewer cores than MPI processes it also needs ``OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1`` (the test sets them).
"""

from __future__ import annotations

import json
import os
import sys
import time


def value_of(x: float, resource: float) -> float:
    return 1.0 - (x - 0.3) ** 2 - 1.0 / resource


def objective(config, resource):
    """Plain objective; logs where it ran (pid, MPI world, parent, thread env) to LOGDIR."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    spawned = MPI.Comm.Get_parent() != MPI.COMM_NULL
    line = {"pid": os.getpid(), "rank": world.Get_rank(), "size": world.Get_size(),
            "spawned": spawned, "omp": os.environ.get("OMP_NUM_THREADS"),
            "x": config["x"], "resource": resource}
    with open(os.path.join(os.environ["ASHA_MPI_LOGDIR"], f"{os.getpid()}.jsonl"), "a") as f:
        f.write(json.dumps(line) + "\n")
    if config["x"] > 0.9:
        raise ValueError(f"x={config['x']} is too large (injected failure)")
    time.sleep(0.02)
    return value_of(config["x"], resource)


def _rows(search):
    """One dict per results row, Python scalars at full precision (None for missing)."""
    import pandas as pd

    df = search.results()
    cols = ["trial_id", "rung", "resource", "value", "status", "error", "config_x"]
    return [{c: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
             for c, v in zip(cols, row)} for row in df[cols].itertuples(index=False)]


def main(out_path: str, logdir: str) -> None:
    os.environ["ASHA_MPI_LOGDIR"] = logdir  # inherited by the spawned workers
    import mpi4py
    from mpi4py import MPI
    from mpi4py.futures import MPIPoolExecutor

    import asha_nb
    from asha_nb import ASHA, SHA, space

    sp = {"x": space.uniform(0.0, 0.9)}  # x > 0.9 raises in the objective
    kw = dict(min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    t0 = time.monotonic()
    report = {"master_pid": os.getpid(), "mpi4py": mpi4py.__version__,
              "mpi_library": MPI.Get_library_version().strip("\x00 \n").splitlines()[0]}
    with MPIPoolExecutor(max_workers=2, env={"OMP_NUM_THREADS": "1"}) as pool:
        # 1. synchronous SHA: exact rungs 9 -> 3 -> 1
        sha = asha_nb.Search(objective, scheduler=SHA(sp, n_configs=9, **kw), executor=pool,
                             n_workers=2, progress=False)
        sha.run()
        report["sha"] = {"state": str(getattr(sha.state, "value", sha.state)), "rows": _rows(sha)}
        # 2. ASHA on the same pool, with one trial whose objective raises
        asha = asha_nb.Search(objective, scheduler=ASHA({"x": space.uniform(0.0, 1.0)},
                                                        max_trials=9, **kw),
                              executor=pool, n_workers=2, progress=False)
        bad = asha.add_trial({"x": 0.95})
        asha.run()
        report["asha"] = {"state": str(getattr(asha.state, "value", asha.state)), "rows": _rows(asha), "bad_trial": bad}
    report["seconds"] = round(time.monotonic() - t0, 3)
    with open(out_path, "w") as f:
        json.dump(report, f)


def crashing(config, resource):
    """Kills its MPI worker process for x > 0.9 (unless ASHA_MPI_NO_CRASH is set)."""
    time.sleep(0.3)
    if config["x"] > 0.9 and not os.environ.get("ASHA_MPI_NO_CRASH"):
        os._exit(3)
    return value_of(config["x"], resource)


def crash(out_path: str, journal: str) -> None:
    """A worker process dies mid-search: the search must end (failed, with the reason), its
    running jobs interrupted, and this script must exit; then resume the journal on threads."""
    from mpi4py.futures import MPIPoolExecutor

    import asha_nb
    from asha_nb import space

    report: dict = {}
    t0 = time.monotonic()
    with MPIPoolExecutor(max_workers=2) as pool:
        search = asha_nb.Search(crashing, {"x": space.uniform(0.0, 0.9)}, executor=pool,
                                n_workers=2, max_trials=6, max_resource=1, journal=journal,
                                seed=0, progress=False)
        search.add_trial({"x": 0.95}, check=False)  # the first job: it kills its worker
        search.start()
        ended = search.wait(timeout=90)
        snap = search.snapshot()
        report["crash"] = {"ended": ended, "state": str(snap.state), "reason": snap.reason,
                           "seconds": round(time.monotonic() - t0, 3), "rows": _rows(search)}
    report["pool_closed_after"] = round(time.monotonic() - t0, 3)
    os.environ["ASHA_MPI_NO_CRASH"] = "1"
    resumed = asha_nb.Search.from_journal(journal, crashing, executor="thread", progress=False)
    resumed.run()
    report["resumed"] = {"state": str(resumed.state), "rows": _rows(resumed)}
    with open(out_path, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    if sys.argv[3:] == ["crash"]:
        crash(sys.argv[1], sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
