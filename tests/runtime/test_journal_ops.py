"""The journal is a table of typed operations: one enum writes and replays it, and journals
written before the enum existed still resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from asha_nb import space
from asha_nb.core import ASHA
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Journal, Search
from asha_nb.runtime._journaled import JournaledScheduler, SchedulerCalls
from asha_nb.runtime._ops import JournalOp, op_of
from asha_nb.runtime._restore import OPS

DATA = Path(__file__).parent / "data"
#: The ``kind`` strings of every journal written so far (format version 2).
HISTORICAL_KINDS = {"next_job", "report", "fail", "add_trial", "stop_trial", "job_started",
                    "retry", "late_value", "checkpoint", "checkpoint_error", "control", "state"}
COLUMNS = ["job_id", "trial_id", "rung", "status", "worker", "start", "end", "value", "error",
           "attempts"]


def objective(config, resource):  # the objective the fixture journal was written with
    if config["x"] > 0.9:
        raise ValueError("x too large")
    return config["x"] * resource


def _rows(search: Search) -> list[dict[str, object]]:
    return json.loads(search.results()[COLUMNS].to_json(orient="records"))


def test_the_enum_keeps_the_kind_strings_and_every_op_has_a_row() -> None:
    assert {op.value for op in JournalOp} == HISTORICAL_KINDS
    assert set(OPS) == set(JournalOp)
    assert op_of("report") is JournalOp.REPORT and op_of("a kind from the future") is None


def test_a_journal_written_before_the_enum_resumes_as_it_did(tmp_path: Path) -> None:
    # Written by the code before JournalOp (commit 4a48173), with the records it restored and
    # the results of running the restored search to its end.
    path = tmp_path / "old.sqlite"
    shutil.copy(DATA / "journal_before_ops.sqlite", path)
    expected = json.loads((DATA / "journal_before_ops.json").read_text())
    r = Search.from_journal(path, objective, allow_other_objective=True)
    assert _rows(r) == expected["restored"]
    r.run()
    assert _rows(r) == expected["finished"]


def test_the_loop_reaches_the_scheduler_through_its_calls_only(tmp_path: Path) -> None:
    plain = Search(objective, {"x": space.uniform(0, 0.5)}, executor=SimulatedExecutor(),
                   max_trials=3, max_resource=3, progress=False)
    assert type(plain._loop.calls) is SchedulerCalls
    path = tmp_path / "s.sqlite"
    s = Search(objective, {"x": space.uniform(0, 0.5)}, executor=SimulatedExecutor(),
               max_trials=3, max_resource=3, journal=path, progress=False)
    assert isinstance(s._loop.calls, JournaledScheduler)
    s.at(0.5).pause()
    s.at(1.0).resume()
    s.run()
    with Journal.read(path) as j:
        kinds = [r.kind for r in j.rows()]
    assert kinds[0] == JournalOp.STATE and kinds[-1] == JournalOp.STATE
    assert {JournalOp.NEXT_JOB, JournalOp.JOB_STARTED, JournalOp.REPORT,
            JournalOp.CONTROL} <= set(kinds)
    assert set(kinds) <= HISTORICAL_KINDS


def test_journaled_calls_write_one_row_per_operation(tmp_path: Path) -> None:
    from asha_nb.clock import VirtualClock

    sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=3, max_trials=2, seed=0)
    j = Journal.create(tmp_path / "j.sqlite")
    calls = JournaledScheduler(sched, VirtualClock(), j)
    job = calls.next_job()
    assert job is not None
    calls.job_started(job, 0, 0.0)
    calls.report(job, 0.5, 1.0)
    calls.stop_trial(0, 1.5)
    calls.close()
    with Journal.read(tmp_path / "j.sqlite") as r:
        rows = list(r.rows())
    assert [row.kind for row in rows] == ["next_job", "job_started", "report", "stop_trial"]
    assert rows[2].value == 0.5 and rows[2].time == 1.0 and rows[1].text == "0"
