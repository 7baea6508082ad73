"""``search.checkpoints()``: the latest checkpoint of each trial, as the objective returned it."""

from __future__ import annotations

from asha_nb import Search, space


def ck(config, resource, checkpoint):
    done = 0 if checkpoint is None else checkpoint["epochs"]
    return config["x"] * resource, {"epochs": resource, "from": done}


def test_checkpoints_hold_each_trials_last_checkpoint():
    s = Search(ck, {"x": space.uniform(0, 1)}, executor="thread", n_workers=2, max_trials=9,
               min_resource=1, max_resource=9, progress=False, seed=1).run()
    cks = s.checkpoints()
    df = s.results()
    last = df.sort_values("resource").groupby("trial_id").last()
    assert sorted(cks) == sorted(last.index)
    for tid, (resource, checkpoint) in cks.items():
        assert resource == last.loc[tid, "resource"] == checkpoint["epochs"]
    promoted = [c for _, c in cks.values() if c["from"] > 0]
    assert promoted, "a promoted trial continued from its checkpoint"
    cks.clear()  # a copy: the search keeps its own
    assert s.checkpoints()


def plain(config, resource):
    return config["x"]


def test_a_plain_objective_leaves_no_checkpoint():
    s = Search(plain, {"x": space.uniform(0, 1)}, executor="thread", max_trials=3,
               max_resource=3, progress=False).run()
    assert s.checkpoints() == {}
