"""A checkpoint that cannot be written or read affects only its trial (issue 10, item 10).

An unwritable checkpoint folder or a corrupt checkpoint pickle used to end the whole search
(``PermissionError`` / ``UnpicklingError``). Now the journal raises a clear
:class:`~asha_nb.runtime.journal.CheckpointError`: the loop notes it on the job's record (save)
or retrains that trial from scratch (load), and the search goes on.

The searches run in virtual time (:class:`~asha_nb.executors.SimulatedExecutor`, one worker):
exact and instant, so a resumed search can be compared with an uninterrupted one.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time

import pytest

from asha_nb import space
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.runtime.journal import CheckpointError, Journal

SP = {"x": space.uniform(0.0, 1.0)}
OPTS = dict(max_trials=27, max_resource=9, reduction_factor=3, seed=11, n_workers=1,
            progress=False)

CALLS: list[tuple[float, float, float | None]] = []  # (x, resource, resource of checkpoint)


def trainer(config, resource, checkpoint):
    CALLS.append((config["x"], resource, None if checkpoint is None else checkpoint["r"]))
    return round(config["x"] * resource, 9), {"r": resource}


def locked_trainer(config, resource, checkpoint):
    return round(config["x"] * resource, 9), {"r": resource, "lock": threading.Lock()}


def _sim(**kw) -> dict:
    return dict(executor=SimulatedExecutor(cost=1.0), **OPTS, **kw)


def _rungs(search) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    for r in search.records():
        if r.status == "ok":
            out.setdefault(r.rung, []).append((r.trial_id, r.value))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _kinds(path) -> list[str]:
    with Journal.read(path) as j:
        return [r.kind for r in j.rows()]


# ------------------------------------------------------------------ saving
def test_an_unwritable_checkpoint_folder_is_noted_on_each_row_and_the_search_finishes(tmp_path):
    ref = Search(trainer, SP, **_sim()).run()
    path = tmp_path / "s.sqlite"
    folder = tmp_path / "s.sqlite.checkpoints"
    folder.write_text("a file where the checkpoint folder should be")
    s = Search(trainer, SP, journal=path, **_sim()).run()
    assert s.state == "finished"
    assert _rungs(s) == _rungs(ref)  # nothing else changed
    ok = [r for r in s.records() if r.status == "ok"]
    assert ok and len(ok) == len(s.records())
    for r in ok:
        assert r.error.startswith("checkpoint not saved (CheckpointError: cannot write ")
        assert f"{r.trial_id}.pkl" in r.error and f"make the folder {str(folder)!r} writable" in (
            r.error)
        assert "a resumed search retrains this trial from scratch" in r.error
    kinds = _kinds(path)
    assert kinds.count("checkpoint_error") == len(ok) and "checkpoint" not in kinds
    # The notes survive a resume: the restored records say the same.
    restored = Search.from_journal(path, trainer, executor=SimulatedExecutor(cost=1.0))
    assert [(r.job_id, r.status, r.value, r.error) for r in restored.records()] == [
        (r.job_id, r.status, r.value, r.error) for r in s.records()]
    restored.stop()


def test_an_unpicklable_checkpoint_is_noted_and_the_search_finishes(tmp_path):
    path = tmp_path / "s.sqlite"
    s = Search(locked_trainer, SP, journal=path, **_sim()).run()
    assert s.state == "finished" and len(s.records()) > OPTS["max_trials"]
    for r in s.records():
        assert r.status == "ok"
        assert "cannot be pickled" in r.error and "return a picklable checkpoint" in r.error
    assert not list((tmp_path / "s.sqlite.checkpoints").glob("*.pkl*"))  # no partial file


def test_an_unwritable_checkpoint_folder_on_threads(tmp_path):
    def slow_trainer(config, resource, checkpoint):
        time.sleep(0.002)
        return config["x"] * resource, {"r": resource}

    path = tmp_path / "s.sqlite"
    (tmp_path / "s.sqlite.checkpoints").write_text("in the way")
    s = Search(slow_trainer, SP, journal=path, max_trials=9, max_resource=9, seed=1,
               n_workers=2, progress=False).run()
    assert s.state == "finished"
    df = s.results()
    assert (df.status == "ok").all()
    assert df.error.str.startswith("checkpoint not saved (CheckpointError").all()


def test_save_checkpoint_raises_a_clear_error_and_keeps_the_previous_file(tmp_path):
    with Journal(tmp_path / "s.sqlite") as j:
        j.save_checkpoint(3, 1.0, {"w": 1}, time=0.0)
        assert j.load_checkpoint(3) == (1.0, {"w": 1})
        with pytest.raises(CheckpointError, match="trial 3 .* cannot be pickled"):
            j.save_checkpoint(3, 3.0, {"w": threading.Lock()}, time=1.0)
        assert j.load_checkpoint(3) == (1.0, {"w": 1})  # the previous checkpoint is intact
        rows = list(j.rows())
    assert [r.kind for r in rows] == ["checkpoint", "checkpoint_error"]
    assert rows[1].trial_id == 3 and rows[1].value == 3.0 and "pickled" in rows[1].text


# ------------------------------------------------------------------ loading
def _corrupt(file, how: str) -> None:
    data = file.read_bytes()
    if how == "garbage":
        file.write_bytes(b"\x80\x05 this is not a pickle")
    elif how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        file.write_bytes(b"")
    else:  # a pickle of something else
        file.write_bytes(pickle.dumps(["not", "a", "checkpoint"]))


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty", "foreign"])
def test_a_corrupt_checkpoint_retrains_that_trial_only(tmp_path, how, caplog):
    ref = Search(trainer, SP, **_sim()).run()
    stop_at = 14.0
    # Trials with a checkpoint on disk at the stop and a promotion (a job with resume_from > 0)
    # that starts after it: the resumed search loads their checkpoints from disk.
    saved = {r.trial_id for r in ref.records() if r.end <= stop_at}
    later = sorted({r.trial_id for r in ref.records()
                    if r.resume_from > 0 and r.start >= stop_at and r.trial_id in saved})
    assert len(later) >= 2
    victim, others = later[0], later[1:]

    path = tmp_path / "s.sqlite"
    s = Search(trainer, SP, journal=path, **_sim())
    s.at(stop_at).stop()
    s.run()
    assert s.state == "stopped"
    before = {r.job_id: r for r in s.records() if r.status == "ok"}
    ckpt = tmp_path / "s.sqlite.checkpoints" / f"{victim}.pkl"
    assert ckpt.exists()
    _corrupt(ckpt, how)

    CALLS.clear()
    with caplog.at_level(logging.WARNING, logger="asha_nb.runtime"):
        r = Search.from_journal(path, trainer, executor=SimulatedExecutor(cost=1.0)).run()
    assert r.state == "finished"
    assert _rungs(r) == _rungs(ref)  # nothing lost, nothing changed
    after = {rec.job_id: rec for rec in r.records()}
    assert {j: (after[j].value, after[j].status) for j in before} == {
        j: (b.value, b.status) for j, b in before.items()}

    x_of = {rec.trial_id: rec.config["x"] for rec in r.records()}
    runs = {}
    for x, resource, from_r in CALLS:
        runs.setdefault(x, []).append((resource, from_r))
    first_victim = runs[x_of[victim]][0]
    assert first_victim[0] > 1 and first_victim[1] is None  # a promoted job, from scratch
    for t in others:  # the others resume from their checkpoints
        resource, from_r = runs[x_of[t]][0]
        assert resource > 1 and from_r is not None and from_r < resource, (t, runs[x_of[t]])
    warned = [m for m in caplog.messages if f"checkpoint of trial {victim}" in m]
    assert warned and "CheckpointError" in warned[0] and str(ckpt) in warned[0]
    assert "retrained from scratch" in warned[0]
    # The row of the job that could not resume says so in results().
    victim_job = next(rec for rec in r.records()
                      if rec.trial_id == victim and rec.job_id not in before and rec.rung > 0)
    assert victim_job.status == "ok" and "retrained from scratch" in victim_job.error


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty", "foreign"])
def test_load_checkpoint_raises_a_clear_error(tmp_path, how):
    with Journal(tmp_path / "s.sqlite") as j:
        j.save_checkpoint(5, 3.0, {"w": [1, 2]}, time=0.0)
        _corrupt(j.checkpoint_dir / "5.pkl", how)
        with pytest.raises(CheckpointError) as info:
            j.load_checkpoint(5)
        assert "trial 5" in str(info.value) and str(j.checkpoint_dir / "5.pkl") in str(
            info.value)
        assert "delete it" in str(info.value)
        assert j.load_checkpoint(6) is None  # no file: no checkpoint, no error
