"""Issue 15, items 6 and 12: a paused virtual search keeps its time budget; control calls on a
search that ended answer clearly (all in virtual time: no sleeps)."""

from __future__ import annotations

import pytest
from _virtual import vsearch

from asha_nb import space
from asha_nb.errors import SearchStateError, SearchStateWarning
from asha_nb.runtime import Search


def objective(config, resource):
    return config["x"] * resource


def _search(**kw):
    kw.setdefault("max_resource", 9)
    kw.setdefault("seed", 0)
    return vsearch(objective, {"x": space.uniform(0, 1)}, **kw)


# ---------------------------------------------------------------- item 6: pause and time budget
def test_a_paused_search_started_in_the_background_waits_then_uses_its_whole_budget():
    s = _search(time_budget=1000)
    s.pause()
    s.start()
    s.resume()  # from this thread, whenever the loop gets it: no virtual time passed paused
    assert s.wait(60)
    assert s.state == "finished" and s._loop.reason == "time budget spent"
    assert s.snapshot().elapsed == 1000.0
    assert len(s.results()) > 100


def test_paused_virtual_time_does_not_run_out_the_budget():
    s = _search(time_budget=1000)
    s.pause()
    s.run(until=2000)  # paused the whole time: nothing runs, the budget is untouched
    assert s.state == "paused" and len(s.results()) == 0
    assert s.snapshot().elapsed == 2000.0
    s.resume()
    s.run()
    assert s.state == "finished" and s._loop.reason == "time budget spent"
    df = s.results()
    assert df.start.min() == 2000.0 and s.snapshot().elapsed == 3000.0
    assert (df[df.status == "ok"].end <= 3000.0).all()


def test_a_scheduled_pause_moves_the_end_of_the_budget_by_its_length():
    s = _search(time_budget=1000, n_workers=2)
    s.at(10).pause()
    s.at(500).resume()
    s.run()
    assert s.state == "finished" and s._loop.reason == "time budget spent"
    assert s.snapshot().elapsed == 1490.0  # 1000 s of budget + 490 s paused
    df = s.results()
    # No job started while paused.
    assert not ((df.start > 10) & (df.start < 500)).any()


def test_a_paused_search_run_on_this_thread_with_no_resume_scheduled_says_so():
    s = _search(time_budget=1000)
    s.pause()
    s.run()
    assert s.state == "stopped" and s.stalled
    assert "paused and no control call is scheduled" in s._loop.reason
    assert s.snapshot().elapsed == 0.0


# ---------------------------------------------------------------- item 12: control responses
def test_start_twice_says_the_search_is_already_running():
    s = _search(max_trials=3)
    s.pause()
    s.start()
    try:
        with pytest.raises(SearchStateError, match="already running"):
            s.start()
    finally:
        s.stop()
    assert s.state == "stopped"


def test_run_after_start_and_stop_returns_the_stopped_search_and_says_so():
    s = _search(max_trials=3)
    s.pause()
    s.start()
    s.stop()
    with pytest.warns(SearchStateWarning, match=r"already ended \(stopped: stop\(\)\)"):
        assert s.run() is s
    assert s.state == "stopped"


def test_run_on_a_finished_search_returns_it_unchanged_and_says_so():
    s = _search(max_trials=3, max_resource=3).run()
    before = s.results().to_csv()
    with pytest.warns(SearchStateWarning, match="already ended .finished: scheduler finished"):
        assert s.run() is s
    assert s.results().to_csv() == before


def test_stop_on_a_finished_search_is_a_no_op():
    s = _search(max_trials=3, max_resource=3).run()
    s.stop()
    assert s.state == "finished" and s._loop.reason == "scheduler finished"
    # The same once the search ran on its own thread (start, then wait).
    t = _search(max_trials=3, max_resource=3).start()
    assert t.wait(60)
    t.stop()
    assert t.state == "finished"


def test_stop_racing_the_natural_end_is_a_no_op(monkeypatch):
    # The loop ends between stop()'s state check and its request: the request is refused
    # with SearchStateError by the ending loop. stop() must treat that as done.
    s = _search(max_trials=3, max_resource=3).start()
    assert s.wait(60)
    def ended_while_posting(self, command, args):
        raise SearchStateError(f"cannot {command}: the search is {self._loop.state}")

    monkeypatch.setattr(Search, "_control", ended_while_posting)
    s.stop()
    assert s.state == "finished"


def test_control_calls_other_than_stop_still_refuse_an_ended_search():
    s = _search(max_trials=3, max_resource=3).run()
    with pytest.raises(SearchStateError, match="finished"):
        s.pause()
    with pytest.raises(SearchStateError, match="already ran and is finished"):
        s.start()
    assert isinstance(s, Search)
