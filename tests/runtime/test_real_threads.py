"""What only real threads show: a search end to end on the thread executor, timeouts counted from
a job's real start with unkillable threads keeping their worker (issue 10 item 2), late values
kept after stop() and a script that exits (item 9), await, and a raising subscriber."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import textwrap
import threading
import time

from _polling import until
from _virtual import SPACE, InvariantChecker

from asha_nb import space
from asha_nb.errors import SearchStateError
from asha_nb.runtime import Search
from asha_nb.runtime.events import StateChanged

WAIT = 60  # generous bound on any wait, never a timing assertion


def quick(config, resource):
    return config["x"] * math.log1p(resource)


def test_thread_run_accounts_for_all_trials():
    chk = InvariantChecker(eta=3)
    s = Search(quick, SPACE, max_trials=12, max_resource=9, seed=1, n_workers=2, progress=False)
    s.subscribe(chk)
    assert s.run() is s
    assert s.state == "finished" and chk.errors == []
    df = s.results()
    assert set(df.trial_id) == set(range(12)) and (df.status == "ok").all()
    for _, row in df.iterrows():
        assert math.isclose(row.value, row.config_x * math.log1p(row.resource))
    assert s.best is not None and s.best["resource"] == df.resource.max()
    snap = s.snapshot()
    assert snap.n_finished + snap.n_stopped == 12 and snap.n_jobs == len(df)


def test_timeouts_count_from_the_real_start_and_stuck_threads_keep_their_worker():
    """The issue's case, scaled: trials with x < 0.5 hang 3 s, others return at once."""
    release = threading.Event()

    def obj(config, resource):
        if config["x"] < 0.5:
            release.wait(3.0)  # ignores the stop flag, like a C extension would
            return -1.0
        return config["x"]

    s = Search(obj, SPACE, max_trials=10, max_resource=1, n_workers=2, job_timeout=0.5,
               seed=3, progress=False)
    s.start()
    stuck_seen = 0
    end = time.monotonic() + WAIT
    while not s.wait(0.05) and time.monotonic() < end:
        stuck_seen = max(stuck_seen, s.snapshot().stuck_workers)
    assert s.state == "finished"
    df = s.results()
    slow, fast = df[df.config_x < 0.5], df[df.config_x >= 0.5]
    assert len(slow) and len(fast)
    # Trials that return at once never "time out" behind the stuck threads.
    assert (fast.status == "ok").all(), fast[["config_x", "status", "error"]]
    assert (slow.status == "failed").all()
    assert all(e.startswith("timed out after 0.5 s") for e in slow.error)
    # Each stuck thread kept its worker until it returned; its late value is recorded.
    assert stuck_seen >= 1
    assert (slow.value == -1.0).all() and all("returned -1.0" in e for e in slow.error)
    assert ((slow.end - slow.start) >= 2.9).all()
    for _w, grp in df.groupby("worker"):  # no job ran on a worker held by a stuck thread
        spans = sorted(zip(grp.start, grp.end, strict=True))
        assert all(e1 <= s2 + 1e-6 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))


def test_late_value_after_stop_is_kept():
    release = threading.Event()

    def obj(config, resource):
        release.wait(30)
        return 0.75

    s = Search(obj, SPACE, max_trials=1, max_resource=1, n_workers=1, progress=False)
    s.start()
    assert until(lambda: s.snapshot().busy_workers > 0, WAIT)
    s.stop()
    assert s.state == "stopped"
    assert s.results().status.tolist() == ["interrupted"]
    row = s.results().iloc[0]
    assert row.start <= row.started <= row.end  # it did begin: not recorded as unknown
    release.set()
    assert until(lambda: s.results().value.iloc[0] is not None, WAIT)
    row = s.results().iloc[0]
    assert row.value == 0.75 and "after the search ended" in row.error


def test_a_script_with_a_stuck_thread_trial_exits_after_stop():
    script = textwrap.dedent("""
        import time
        from asha_nb import space
        from asha_nb.runtime import Search

        def obj(config, resource):
            time.sleep(60)          # ignores stop requests
            return 1.0

        s = Search(obj, {"x": space.uniform(0, 1)}, max_trials=2, max_resource=1,
                   n_workers=2, progress=False)
        s.start()
        end = time.monotonic() + 30  # until both trials' threads run
        while s.snapshot().busy_workers < 2 and time.monotonic() < end:
            time.sleep(0.01)
        s.stop()
        print("stopped", s.state)
    """)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert "stopped stopped" in proc.stdout
    assert time.monotonic() - t0 < 40  # the 60 s threads did not hold the interpreter


def test_a_search_running_at_interpreter_exit_ends_quietly():
    script = textwrap.dedent("""
        import time
        from asha_nb import space
        from asha_nb.runtime import Search

        def obj(config, resource):
            time.sleep(0.01)
            return config["x"]

        s = Search(obj, {"x": space.uniform(0, 1)}, max_resource=9, n_workers=2,
                   progress=False)            # no max_trials: still running at exit
        s.start()
        end = time.monotonic() + 30  # until jobs go round: the exit comes mid-search
        while len(s.records()) < 3 and time.monotonic() < end:
            time.sleep(0.01)
        print("bye")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=50)
    assert proc.returncode == 0 and "bye" in proc.stdout
    assert "cannot schedule new futures" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_await_target_and_a_raising_subscriber(caplog):
    s = Search(lambda c, r: c["x"], {"x": space.choice([0.2, 0.95])}, max_trials=50,
               max_resource=9, target=0.9, seed=3, progress=False)
    calls = []

    def bad(ev):
        calls.append(ev)
        raise RuntimeError("boom")

    s.subscribe(bad)

    async def main():
        return await s

    assert asyncio.run(asyncio.wait_for(main(), 30)) is s
    assert s.state == "finished"
    assert any(isinstance(e, StateChanged) and e.reason == "target reached" for e in calls)
    assert s.best["value"] >= 0.9
    assert "subscriber" in caplog.text
    try:
        s.pause()
    except SearchStateError as exc:
        assert "finished" in str(exc)
    else:
        raise AssertionError("a control call on a finished search must raise")
