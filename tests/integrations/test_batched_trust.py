"""A trust pass over batched searches: the queue beyond the batch, pipelining and the control
calls, as a notebook user drives them. What the search records must be what happened.

The searches are steered deterministically with a *gated* engine: its ``step`` waits until the
test releases it, so a control call lands while the jobs are known to be queued or training.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jax
import pytest
from _polling import until

from asha_nb import ASHA, Search
from asha_nb.errors import InvalidParameterError, InvalidTypeError, SearchStateError
from asha_nb.examples import digits_mlp, mlp_space, torch_digits_batched
from asha_nb.executors import _batching
from asha_nb.executors.batched import BatchedExecutor

BLOCK = 4  # one row per fake device (conftest: 4 CPU devices); the reference engine uses it too


class Gated:
    """An engine whose ``step`` waits for the test's go (``release(n)``, or ``free()``): before
    it trains, or with ``after=True`` once it has trained, before it returns."""

    def __init__(self, inner, after=False):
        self.inner = inner
        self.after = after
        self.go = threading.Semaphore(0)
        self.open = False
        self.steps = 0
        self.keys: list = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def n_active(self):
        return self.inner.n_active

    def add(self, key, trial_id, config, epochs, checkpoint=None):
        self.keys.append(key)
        self.inner.add(key, trial_id, config, epochs, checkpoint)

    def step(self, max_epochs=None):
        if not self.open and not self.after:
            self.go.acquire()
        out = self.inner.step(max_epochs)
        self.steps += 1
        if not self.open and self.after:
            self.go.acquire()
        return out

    def release(self, n=1):
        for _ in range(n):
            self.go.release()

    def free(self):
        self.open = True
        self.go.release()


class GatedModel:
    """Builds gated engines of ``model`` (pass it as ``BatchedExecutor(GatedModel(model))``)."""

    def __init__(self, model, after=False):
        self.model = model
        self.after = after
        self.engines: list[Gated] = []

    def engine(self, capacity, **options):
        eng = Gated(self.model.engine(capacity, **options), self.after)
        self.engines.append(eng)
        return eng


@pytest.fixture(scope="module")
def digits():
    """Two static groups (widths)."""
    return digits_mlp(widths=(8, 16), n_batches=2)


@pytest.fixture(scope="module")
def digits8():
    """One static group: the first step trains jobs 0-3 and dispatches 4-7 behind them."""
    return digits_mlp(widths=(8,), n_batches=2)


def _search(model, space, gm, *, n_workers=12, max_trials=16, seed=0, jax_engine=True,
            **options):
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3,
                 max_trials=max_trials, seed=seed)
    ex = BatchedExecutor(gm, batch_size=4, **({"train_block": BLOCK} if jax_engine else {}))
    return Search(model, scheduler=sched, executor=ex, n_workers=n_workers, progress=False,
                  **options)


def _started_queue(search, gm, n):
    search.start()
    assert until(lambda: gm.engines and gm.engines[-1].n_active == n)
    return gm.engines[-1]


def _configs(results):
    cols = [c for c in results.columns if c.startswith("config_")]
    for _, row in results.iterrows():
        cfg = {c[len("config_"):]: row[c] for c in cols}
        cfg["width"] = int(cfg.get("width", 8))
        yield row, cfg


def _assert_values_of_a_straight_run(model, results):
    """Every completed job's value is, bit for bit, the value of its configuration trained
    from scratch to its resource in one go."""
    ok = results[results.status == "ok"]
    assert len(ok)
    eng = model.engine(64, train_block=BLOCK)
    for row, cfg in _configs(ok):
        eng.add(int(row.job_id), int(row.trial_id), cfg, int(row.resource))
    straight = {f.key: f.value for f in eng.run()}
    assert {int(j): float(v) for j, v in zip(ok.job_id, ok.value)} == straight


# ---------------------------------------------------------------------- bad options
@pytest.mark.parametrize("options, name", [
    ({"pipeline_depth": 0}, "pipeline_depth"),
    ({"pipeline_depth": 2.5}, "pipeline_depth"),
    ({"progress_interval": -1}, "progress_interval"),
    ({"progress_interval": "1"}, "progress_interval"),
    ({"train_block": 0}, "train_block"),
    ({"compact_after": -1}, "compact_after"),
    ({"pool_fraction": 0}, "pool_fraction"),
    ({"max_pool_bytes": 0}, "max_pool_bytes"),
    ({"buckets": []}, "buckets"),
    ({"buckets": [8, 0]}, "buckets"),
    ({"devices": []}, "devices"),
    ({"devices": "cpu"}, "devices"),
    ({"gather_window": "0.1"}, "gather_window"),
    ({"max_chunk": True}, "max_chunk"),
])
def test_bad_options_are_refused_when_the_executor_is_made(options, name):
    with pytest.raises(InvalidParameterError, match=f"^{name} must .*got {re.escape(repr(options[name]))}$"):
        BatchedExecutor(**options)


def test_options_that_need_the_model_are_refused_when_it_is_given(digits):
    model, _ = digits
    assert len(jax.local_devices()) == 4
    with pytest.raises(InvalidParameterError, match="train_block .* device count 4, got 3"):
        BatchedExecutor(model, train_block=3)
    with pytest.raises(InvalidParameterError, match="buckets .* got \\(6,\\)"):
        BatchedExecutor(model, buckets=[6])
    with pytest.raises(InvalidParameterError, match="buckets must be multiples of train_block=8"):
        BatchedExecutor(model, train_block=8, buckets=[4])
    with pytest.raises(InvalidParameterError, match="devices must be JAX devices"):
        BatchedExecutor(model, devices=["cpu"])
    with pytest.raises(InvalidTypeError, match="engine options \\['tile'\\]"):
        BatchedExecutor(model, tile=2)
    with pytest.raises(InvalidTypeError, match="engine options \\['pipeline_depth'\\]"):
        BatchedExecutor(torch_digits_batched(device="cpu"), pipeline_depth=2)
    BatchedExecutor(model, devices=jax.local_devices()[:2], train_block=2, buckets=[4, 8])


def test_the_engine_refuses_devices_that_are_not_jax_devices(digits):
    model, _ = digits
    with pytest.raises(InvalidParameterError, match="devices must be JAX devices"):
        model.engine(4, devices=["cpu"])


# ---------------------------------------------------------------------- one executor, sessions
def test_an_executor_runs_one_search_at_a_time(digits):
    model, _ = digits
    ex = BatchedExecutor(batch_size=4)
    ex.start(model, 4)
    try:
        with pytest.raises(SearchStateError, match="running another search"):
            ex.start(model, 4)
    finally:
        ex.shutdown(wait=True)


def test_a_reused_executor_leaves_the_stopped_searchs_thread_nothing(digits):
    """A search stopped while its chunk trains, then a new search on the same executor: the
    old batching thread ends with its chunk; it takes none of the new search's jobs and the
    heap freeze is undone once both have ended."""
    assert gc.get_freeze_count() == 0
    model, space = digits
    gm = GatedModel(model)
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=12, seed=0)
    ex = BatchedExecutor(gm, batch_size=4, train_block=BLOCK)
    first = Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False)
    old = _started_queue(first, gm, 8)
    first.stop()  # its thread waits in step: a chunk in flight
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=12, seed=1)
    second = Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False)
    second.start()
    old.free()
    assert until(lambda: len(gm.engines) == 2)
    gm.engines[1].free()
    assert second.wait(timeout=120)
    assert str(second.state) == "finished"
    assert set(old.keys) == set(first.results().job_id)  # only the first search's jobs
    assert set(gm.engines[1].keys) == set(second.results().job_id)
    assert until(lambda: not any(t.name == "asha-batched" for t in threading.enumerate()))
    assert gc.get_freeze_count() == 0 and _batching._gc_holders == 0


def test_a_reused_executor_brings_no_values_of_the_last_search(digits8):
    """The first search stops with intermediate values not yet taken by its runtime; the
    second search on the same executor (job and trial ids start at 0 again) must not show
    them: every point of its learning curves is its own trial's value at that resource."""
    model, space = digits8
    gm = GatedModel(model)
    ex = BatchedExecutor(gm, batch_size=4, train_block=BLOCK, max_chunk=1, progress_interval=0)
    searches = []
    for seed in (0, 1):
        sched = ASHA(space, min_resource=3, max_resource=9, reduction_factor=3, max_trials=8,
                     seed=seed)
        searches.append(Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False))
    first, second = searches
    eng = _started_queue(first, gm, 8)
    eng.release(2)
    assert until(lambda: eng.steps == 2)
    first.stop()  # the values of the second chunk are still on their way to the runtime
    eng.free()
    second.start()
    assert until(lambda: len(gm.engines) == 2)
    gm.engines[1].free()
    assert second.wait(timeout=120)
    configs = {int(r.trial_id): c for r, c in _configs(second.results())}
    straight = model.engine(64, train_block=BLOCK)
    points = [(t, int(r), v) for t, curve in second.curves().items() for r, v in curve]
    assert points
    for k, (t, r, _) in enumerate(points):
        straight.add(k, t, configs[t], r)
    values = {f.key: f.value for f in straight.run()}
    assert [v for _, _, v in points] == pytest.approx([values[k] for k in range(len(points))])


def test_stop_undoes_the_heap_freeze_while_the_chunk_in_flight_ends(digits):
    assert gc.get_freeze_count() == 0
    model, space = digits
    gm = GatedModel(model)
    search = _search(model, space, gm, n_workers=8)
    eng = _started_queue(search, gm, 8)
    assert gc.get_freeze_count() > 0
    search.stop()
    assert gc.get_freeze_count() == 0  # not only once the thread has ended
    eng.free()
    assert until(lambda: not any(t.name == "asha-batched" for t in threading.enumerate()))
    assert gc.get_freeze_count() == 0 and _batching._gc_holders == 0


# ---------------------------------------------------------------------- values in flight
def test_a_stop_keeps_the_value_of_a_row_whose_last_chunk_is_in_flight(digits8):
    """Jobs 4-7 finish in the chunk dispatched behind the first one; a stop that reaches the
    batching thread while that chunk is in flight keeps its value (status ``stopped``), as
    for a thread worker that returns after its stop."""
    model, space = digits8
    gm = GatedModel(model, after=True)
    search = _search(model, space, gm, n_workers=8)
    search.start()
    assert until(lambda: gm.engines and gm.engines[0].steps == 1)  # jobs 4-7 in flight
    eng = gm.engines[0]
    search.stop_trial(5)
    eng.free()
    assert search.wait(timeout=120)
    res = search.results()
    job = res[(res.trial_id == 5) & (res.rung == 0)].iloc[0]
    assert job.status == "stopped" and job.value is not None
    assert not (res.trial_id[res.rung > 0] == 5).any()  # stopped: never promoted
    _assert_values_of_a_straight_run(model, res[res.job_id != job.job_id])
    straight = model.engine(4, train_block=BLOCK)
    (_, cfg), = _configs(res[res.job_id == job.job_id])
    straight.add(0, 5, cfg, 1)
    assert [f.value for f in straight.run()] == [job.value]


def test_the_values_of_chunks_in_flight_when_the_search_stops_are_kept(digits8):
    """``stop()`` while jobs 4-7 finish in a chunk in flight: they are recorded as interrupted
    (the search had ended), with the values their chunk computed."""
    model, space = digits8
    gm = GatedModel(model, after=True)
    search = _search(model, space, gm, n_workers=8)
    search.start()
    assert until(lambda: gm.engines and gm.engines[0].steps == 1)
    search.stop()
    gm.engines[0].free()
    assert until(lambda: not any(t.name == "asha-batched" for t in threading.enumerate()))
    assert until(lambda: search.results().value.notna().sum() == 8)
    res = search.results().set_index("job_id")
    assert set(res.status[:8]) == {"interrupted"}
    assert all("after the search ended" in e for e in res.error[:8])
    _assert_values_of_a_straight_run(model, res.reset_index().assign(status="ok"))


def test_intermediate_values_of_jobs_that_end_fast_reach_the_curves(digits8):
    """Every chunk evaluates every row (``progress_interval=0``, one epoch per chunk): each
    job's values at the resources it passed are in its trial's curve, exactly, even where the
    job ended before the runtime's next look at the streamed values."""
    model, space = digits8
    sched = ASHA(space, min_resource=3, max_resource=9, reduction_factor=3, max_trials=8, seed=0)
    ex = BatchedExecutor(batch_size=4, train_block=BLOCK, max_chunk=1, progress_interval=0)
    search = Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False).run()
    res = search.results()
    curves = search.curves()
    want = [(int(row.trial_id), r, cfg) for row, cfg in _configs(res[res.status == "ok"])
            for r in range(int(row.resume_from) + 1, int(row.resource))]
    assert len(want) >= 16
    straight = model.engine(64, train_block=BLOCK)
    for k, (t, r, cfg) in enumerate(want):
        straight.add(k, t, cfg, r)
    values = {f.key: f.value for f in straight.run()}
    for k, (t, r, _) in enumerate(want):
        assert (r, values[k]) in curves.get(t, []), (t, r)


def test_a_script_that_ends_while_a_chunk_trains_exits_cleanly(tmp_path):
    """A daemon batching thread inside JAX while Python finalizes aborted the process
    ("terminate called after throwing ...", exit status 134)."""
    script = tmp_path / "ends.py"
    script.write_text(textwrap.dedent("""
        from _polling import until
        from asha_nb import ASHA, Search
        from asha_nb.examples import digits_mlp
        from asha_nb.executors.batched import BatchedExecutor
        model, space = digits_mlp(widths=(8,), n_batches=11)
        ex = BatchedExecutor(batch_size=4, max_chunk=50)
        sched = ASHA(space, min_resource=200, max_resource=600, reduction_factor=3,
                     max_trials=8, seed=0)
        Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False).start()
        assert until(lambda: ex.engine is not None and ex.engine.n_chunks >= 2)
    """))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------------- what held up
def test_a_job_stopped_in_the_queue_never_started_and_the_others_are_exact(digits8):
    """K = 4 rows, 12 jobs out: a stop of a job still queued (never trained) records it as
    stopped, no value, no start; every completed job's value is a straight run's."""
    model, space = digits8
    gm = GatedModel(model)
    search = _search(model, space, gm)
    eng = _started_queue(search, gm, 12)
    search.stop_trial(10)  # the first step trains jobs 0-7 (two chunks in flight): 10 waits
    eng.free()
    assert search.wait(timeout=120)
    res = search.results()
    job = res[(res.trial_id == 10) & (res.rung == 0)].iloc[0]
    assert job.status == "stopped" and job.value is None
    assert job.started != job.started  # NaN: it never trained
    assert (res.status[res.trial_id != 10] == "ok").all()
    started = res[res.status == "ok"]
    assert (started.started >= started.start).all() and (started.end >= started.started).all()
    _assert_values_of_a_straight_run(model, res)


def test_the_job_timeout_of_a_queued_job_counts_from_its_first_chunk(digits8):
    """Jobs 8-11 wait in the queue while the batching thread is held longer than the job
    timeout: the jobs whose chunk was dispatched time out, the queued ones train and finish."""
    model, space = digits8
    gm = GatedModel(model)
    search = _search(model, space, gm, job_timeout=1.5)
    eng = _started_queue(search, gm, 12)
    eng.release(1)  # chunks of jobs 0-3 (read) and 4-7 (dispatched behind) go out
    assert until(lambda: (search.results().status == "failed").sum() == 4)
    eng.free()
    assert search.wait(timeout=120)
    res = search.results()
    rung0 = res[res.rung == 0].set_index("job_id")
    assert list(rung0.status[:4]) == ["ok"] * 4
    assert list(rung0.status[4:8]) == ["failed"] * 4
    assert all("timed out after 1.5 s" in e for e in rung0.error[4:8])
    assert list(rung0.status[8:12]) == ["ok"] * 4


def test_pause_resize_and_added_trials_with_the_queue_give_exact_values(digits):
    model, space = digits
    gm = GatedModel(model)
    search = _search(model, space, gm, max_trials=20)
    eng = _started_queue(search, gm, 12)
    search.set_n_workers(2)
    eng.release(2)
    search.pause()
    added = search.add_trial({"lr": 0.1, "width": 16})
    search.set_n_workers(16)
    search.resume()
    eng.free()
    assert search.wait(timeout=120)
    res = search.results()
    assert str(search.state) == "finished" and (res.status == "ok").all()
    assert added in set(res.trial_id)
    _assert_values_of_a_straight_run(model, res)


def test_a_journaled_search_with_the_queue_resumes_with_nothing_lost(digits, tmp_path):
    model, space = digits
    path = tmp_path / "batched.sqlite"
    gm = GatedModel(model)
    search = _search(model, space, gm, journal=path)
    eng = _started_queue(search, gm, 12)
    eng.release(4)
    assert until(lambda: eng.steps == 4)
    search.stop()
    eng.free()
    before = search.results()
    done = before[before.status == "ok"][["job_id", "trial_id", "resource", "value"]]
    assert len(done)
    again = Search.from_journal(path, model, n_workers=12, progress=False,
                                executor=BatchedExecutor(batch_size=4, train_block=BLOCK))
    res = again.run().results()
    kept = res.merge(done, on="job_id", suffixes=("", "_before"))
    assert len(kept) == len(done)
    assert (kept.value == kept.value_before).all() and (kept.status == "ok").all()
    assert str(again.state) == "finished"
    _assert_values_of_a_straight_run(model, res)


def test_torch_with_the_queue_and_a_stopped_queued_job():
    torch_model = torch_digits_batched(device="cpu")
    gm = GatedModel(torch_model)
    search = _search(torch_model, mlp_space((8, 16)), gm, max_trials=14, jax_engine=False)
    eng = _started_queue(search, gm, 12)
    search.stop_trial(10)
    eng.free()
    assert search.wait(timeout=120)
    res = search.results()
    job = res[(res.trial_id == 10) & (res.rung == 0)].iloc[0]
    assert job.status == "stopped" and job.value is None and job.started != job.started
    ok = res[res.status == "ok"]
    assert len(ok) == len(res) - 1 and (ok.end >= ok.started).all()


def test_two_searches_at_once_on_two_executors_do_not_mix(digits8):
    """Two searches of one model at once, each on its own executor (and engine): each records
    only its own jobs, every value is a straight run's, and the heap freeze is undone once both
    have ended."""
    assert gc.get_freeze_count() == 0
    model, space = digits8
    gms = [GatedModel(model), GatedModel(model)]
    searches = [_search(model, space, gm, n_workers=8, max_trials=12, seed=i)
                for i, gm in enumerate(gms)]
    for search, gm in zip(searches, gms):
        _started_queue(search, gm, 8)
    assert gc.get_freeze_count() > 0
    for gm in gms:
        gm.engines[0].free()
    for search, gm in zip(searches, gms):
        assert search.wait(timeout=120) and str(search.state) == "finished"
        res = search.results()
        assert sorted(gm.engines[0].keys) == sorted(res.job_id)
        _assert_values_of_a_straight_run(model, res)
    assert until(lambda: not any(t.name == "asha-batched" for t in threading.enumerate()))
    assert gc.get_freeze_count() == 0 and _batching._gc_holders == 0
