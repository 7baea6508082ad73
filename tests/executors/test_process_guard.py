"""A script that starts a process-executor search without ``if __name__ == "__main__":`` gets an
error that says what to add (issue 10 item 12), not a bare ``EOFError``; with the guard it runs.

spawn and forkserver workers import the main script again, so each case is a script file run
in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asha_nb.executors.process import importing_main_script

GUARD = 'if __name__ == "__main__":'

EXECUTOR_SCRIPT = """
import sys
from asha_nb.executors import JobSpec, ProcessExecutor

def objective(config, resource):
    return config["x"] * resource

{guard}
    ex = ProcessExecutor(stream={stream}, mp_context={method!r})
    ex.start(objective, 1)
    try:
        job = ex.submit(JobSpec(0, 0, {{"x": 2.0}}, rung=0, resource=3, resume_from=0))
        print("value", job.future.result(timeout=60).value)
    finally:
        ex.shutdown()
"""


def run_file(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "search_script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120,
        cwd=str(tmp_path),
    )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("stream", [True, False])
def test_missing_main_guard_is_a_clear_error(tmp_path, method, stream):
    code = EXECUTOR_SCRIPT.format(guard="if True:", stream=stream, method=method)
    proc = run_file(tmp_path, code)
    assert proc.returncode != 0
    last_line = proc.stderr.strip().splitlines()[-1]
    # The parent's own error names the fix (the Manager or the pool died at start) ...
    expected = "SearchStateError" if stream else "ExecutorLostError"
    assert last_line.startswith(f"asha_nb.errors.{expected}: "), proc.stderr
    assert GUARD in last_line and "search_script.py" in last_line and method in last_line
    # ... and so does the worker that tried to start a search while importing the script.
    assert "asha_nb.errors.SearchStateError: a process-executor search was started while a " \
        "worker process was importing the main script" in proc.stderr
    assert "value" not in proc.stdout


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_with_the_guard_the_script_runs(tmp_path, method):
    code = EXECUTOR_SCRIPT.format(guard=GUARD, stream=True, method=method)
    proc = run_file(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["value", "6.0"]
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_search_without_the_guard_fails_with_the_advice(tmp_path):
    proc = run_file(
        tmp_path,
        """
        from asha_nb import Search, space

        def objective(config, resource):
            return config["x"] * resource

        search = Search(objective, {"x": space.uniform(0, 1)}, executor="process",
                        max_trials=3, max_resource=1, n_workers=1, progress=False)
        search.run()
        print("finished", search.state)
        """,
    )
    assert proc.returncode != 0
    assert GUARD in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert "finished" not in proc.stdout


def test_importing_main_script_is_false_outside_a_booting_worker():
    assert importing_main_script() is False
