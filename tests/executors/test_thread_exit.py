"""Trial threads never keep a script alive (issue 10 item 9): they are daemon threads, and the
thread executor keeps accepting jobs while the interpreter exits (no "cannot schedule new
futures after shutdown"). Each case runs a small script in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: Generous bound: the objectives below sleep 60 s, so a script that waits for them fails.
EXIT_LIMIT_S = 30


def run_script(code: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=EXIT_LIMIT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"the script did not exit within {EXIT_LIMIT_S} s (a trial thread kept it alive)\n"
            f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}"
        )


def test_a_stuck_trial_thread_does_not_keep_the_interpreter_alive():
    proc = run_script(
        """
        import time
        from asha_nb.executors import JobSpec, ThreadExecutor

        def objective(trial):  # ignores should_stop()
            time.sleep(60)
            return 1.0

        ex = ThreadExecutor()
        ex.start(objective, 2)
        job = ex.submit(JobSpec(0, 0, {}, rung=0, resource=1, resume_from=0))
        while job.started_at is None:
            time.sleep(0.01)
        ex.stop_job(job)
        ex.shutdown(wait=False)
        print("done", job.future.done())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["done", "False"]


def test_jobs_submitted_while_the_interpreter_exits_do_not_log_errors():
    # The runtime's loop is a daemon thread that may submit a job while the interpreter shuts
    # down; a ThreadPoolExecutor refuses it then (RuntimeError: cannot schedule new futures
    # after shutdown), which was logged at every exit of a script with a running search.
    proc = run_script(
        """
        import sys, threading, time, traceback
        from asha_nb.executors import JobSpec, ThreadExecutor

        ex = ThreadExecutor()
        ex.start(lambda config, resource: time.sleep(0.01), 2)

        running = threading.Event()  # set once jobs go round: the exit comes mid-stream

        def loop():
            for job_id in range(10**9):
                try:
                    ex.submit(JobSpec(job_id, job_id, {}, rung=0, resource=1, resume_from=0)
                              ).future.result()
                    if job_id == 2:
                        running.set()
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                    raise

        threading.Thread(target=loop, daemon=True).start()
        assert running.wait(30), "no job ran"
        print("exiting")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "exiting"
    assert "cannot schedule new futures" not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_stopped_search_with_a_stuck_thread_objective_lets_the_script_exit():
    proc = run_script(
        """
        import time
        from asha_nb import Search, space

        def objective(config, resource):  # ignores should_stop()
            time.sleep(60)
            return config["x"]

        search = Search(objective, {"x": space.uniform(0, 1)}, max_trials=4, max_resource=1,
                        n_workers=2, progress=False)
        search.start()
        deadline = time.monotonic() + 20
        while search.snapshot().busy_workers < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        print("busy", search.snapshot().busy_workers)
        search.stop()
        print("stopped")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["busy", "2", "stopped"]
    assert "Traceback" not in proc.stderr, proc.stderr
