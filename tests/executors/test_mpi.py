"""asha_nb on Open MPI: ``mpi4py.futures.MPIPoolExecutor`` as the executor of real searches.

The searches run in a subprocess (``_mpi_search.py``): initialising MPI inside pytest's process
is fragile, and a hung MPI job must not hang the test run. CI installs Open MPI with
``.ci/install-mpi`` and mpi4py with the ``mpi`` extra; a missing one is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("_mpi_search.py")
# Open MPI refuses to start as root without the first two (CI containers run as root); the
# third lets MPI_Comm_spawn start more processes than the cores it counts as slots.
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
TIMEOUT_S = 240


def value_of(x: float, resource: float) -> float:
    return 1.0 - (x - 0.3) ** 2 - 1.0 / resource


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    assert shutil.which("mpiexec"), "Open MPI is not installed: run .ci/install-mpi"
    assert importlib.util.find_spec("mpi4py"), 'mpi4py is missing: pip install -e ".[mpi]"'
    tmp = tmp_path_factory.mktemp("mpi")
    out, logdir = tmp / "report.json", tmp / "logs"
    logdir.mkdir()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(logdir)],
                            env={**os.environ, **MPI_ENV}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the master and the MPI processes it spawned
        text, _ = proc.communicate()
        pytest.fail(f"the MPI search did not end within {TIMEOUT_S} s:\n{text[-4000:]}")
    assert proc.returncode == 0, f"the MPI search failed (exit {proc.returncode}):\n{text[-4000:]}"
    report = json.loads(out.read_text())
    jobs = [json.loads(line) for f in sorted(logdir.iterdir()) for line in f.read_text().splitlines()]
    return report, jobs


def _by_rung(rows):
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(r["rung"], []).append(r)
    return out


def test_sha_on_mpi_runs_every_job_with_exact_rungs(mpi_run):
    report, _ = mpi_run
    sha = report["sha"]
    assert sha["state"] == "finished"
    rows = sha["rows"]
    assert [r["status"] for r in rows] == ["ok"] * 13, rows
    rungs = _by_rung(rows)
    assert {k: len(v) for k, v in rungs.items()} == {0: 9, 1: 3, 2: 1}
    assert {k: {r["resource"] for r in v} for k, v in rungs.items()} == {0: {1}, 1: {3}, 2: {9}}
    for r in rows:  # each value is the objective's, for that config and resource
        assert r["value"] == pytest.approx(value_of(r["config_x"], r["resource"]), abs=1e-12)
    top3 = sorted(rungs[0], key=lambda r: r["value"], reverse=True)[:3]
    assert {r["trial_id"] for r in rungs[1]} == {r["trial_id"] for r in top3}
    best1 = max(rungs[1], key=lambda r: r["value"])
    assert [r["trial_id"] for r in rungs[2]] == [best1["trial_id"]]


def test_an_exception_in_an_mpi_trial_is_a_failed_row_and_the_search_goes_on(mpi_run):
    report, _ = mpi_run
    asha = report["asha"]
    assert asha["state"] == "finished"
    bad = asha["bad_trial"]
    rows = asha["rows"]
    bad_rows = [r for r in rows if r["trial_id"] == bad]
    assert len(bad_rows) == 1 and bad_rows[0]["rung"] == 0 and bad_rows[0]["status"] == "failed"
    assert "ValueError: x=0.95 is too large (injected failure)" in bad_rows[0]["error"]
    for r in rows:
        if r["config_x"] > 0.9:
            assert r["status"] == "failed"
        else:
            assert r["status"] == "ok", r
            assert r["value"] == pytest.approx(value_of(r["config_x"], r["resource"]), abs=1e-12)
    assert 9 <= Counter(r["rung"] for r in rows)[0] <= 10  # max_trials=9 (+ the added trial?)
    ok = {(r["trial_id"], r["rung"]) for r in rows if r["status"] == "ok"}
    for tid, rung in ok:  # no trial skips a rung
        assert rung == 0 or (tid, rung - 1) in ok
    assert max(r["rung"] for r in rows) >= 1  # promotions happened after the failure


def test_jobs_ran_in_the_spawned_mpi_workers(mpi_run):
    report, jobs = mpi_run
    assert report["mpi_library"].startswith("Open MPI"), report["mpi_library"]
    rows = report["sha"]["rows"] + report["asha"]["rows"]
    assert len(jobs) == len(rows)  # one objective call per recorded job
    assert sorted((j["x"], j["resource"]) for j in jobs) == sorted(
        (r["config_x"], r["resource"]) for r in rows)
    pids = {j["pid"] for j in jobs}
    assert report["master_pid"] not in pids and 1 <= len(pids) <= 2
    # workers of MPIPoolExecutor(max_workers=2): their own MPI world of 2, with a parent
    assert all(j["spawned"] and j["size"] == 2 and j["rank"] in (0, 1) for j in jobs), jobs
    assert all(j["omp"] == "1" for j in jobs)  # MPIPoolExecutor(env=...) reached the trials


def test_a_dead_mpi_worker_ends_the_search_as_failed_and_the_script_exits(tmp_path):
    # Issue 15 item 9: a worker process that died used to hang the search for ever (and the
    # script never exited). Now the search fails within seconds with the reason, its running
    # jobs are interrupted, the script exits, and the journal resumes them.
    out, journal = tmp_path / "crash.json", tmp_path / "crash.asha"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(journal), "crash"],
                            env={**os.environ, **MPI_ENV}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        text, _ = proc.communicate()
        pytest.fail(f"the script with a dead MPI worker did not exit within {TIMEOUT_S} s:\n"
                    f"{text[-4000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{text[-4000:]}"
    report = json.loads(out.read_text())
    crash = report["crash"]
    assert crash["ended"] and crash["state"] == "failed", crash
    assert "MPI has no crash isolation" in crash["reason"], crash["reason"]
    statuses = [r["status"] for r in crash["rows"]]
    assert "running" not in statuses and "interrupted" in statuses, crash["rows"]
    crashed = [r for r in crash["rows"] if r["config_x"] > 0.9]
    assert [r["status"] for r in crashed] == ["interrupted"], crashed
    resumed = report["resumed"]
    assert resumed["state"] == "finished"
    rows = resumed["rows"]
    assert all(r["status"] == "ok" for r in rows), rows  # the interrupted jobs ran again
    assert any(r["config_x"] > 0.9 for r in rows)
