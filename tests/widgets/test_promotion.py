"""The teaching view (PromotionView): seed numbers, counters per frame, cost model, exports."""

from __future__ import annotations

import math
import re

import pytest

from asha_nb import ASHA, SHA, simulate
from asha_nb.errors import InvalidParameterError, InvalidTypeError
from asha_nb.synthetic import SyntheticBenchmark
from asha_nb.widgets import PromotionView


@pytest.fixture(scope="module")
def view():
    return PromotionView(n_configs=64, reduction_factor=4, n_workers=10)


def _independent_counters(timeline, t, top_resource):
    """Counters at time t straight from a simulator timeline (no lesson code involved)."""
    starts, ends = timeline["start"], timeline["end"]
    busy = sum(min(e, t) - s for s, e in zip(starts, ends) if s < t)
    done = [i for i, e in enumerate(ends) if e <= t]
    return {
        "busy_time": busy,
        "jobs": len(done),
        "configs_evaluated": len({timeline["trial_id"][i] for i in done
                                  if timeline["rung"][i] == 0}),
        "busy_workers": sum(1 for s, e in zip(starts, ends) if s <= t < e),
        "time_to_max_resource": min((ends[i] for i in done
                                     if timeline["resource"][i] >= top_resource), default=None),
    }


# ------------------------------------------------------------------ seed numbers
def test_seed_numbers_64_16_4_1_and_the_idle_workers(view):
    sha = view.jobs["SHA"]
    per_rung = {}
    for r in sha:
        per_rung[r["rung"]] = per_rung.get(r["rung"], 0) + 1
    assert per_rung == {0: 64, 1: 16, 2: 4, 3: 1}
    assert view.resources == [1, 4, 16, 64]
    # unit cost with checkpoints: 7 waves of rung 0, 2 waves of 3 s, 12 s, 48 s
    assert view.horizon == 7 + 6 + 12 + 48 == 73.0
    rung_span = {k: (min(r["start"] for r in sha if r["rung"] == k),
                     max(r["end"] for r in sha if r["rung"] == k)) for k in per_rung}
    assert rung_span == {0: (0, 7), 1: (7, 13), 2: (13, 25), 3: (25, 73)}

    def idle_lanes(t):  # grey bars drawn at t (the view's idle intervals)
        return sum(1 for r in view.idle["SHA"] if r["start"] <= t < r["end"])

    for t in (13.0, 16.5, 20.0, 24.9):  # SHA's third rung (rung 2): 4 jobs, 6 idle workers
        c = view.counters_at(t)
        assert c["SHA"]["busy_workers"] == 4 and idle_lanes(t) == 6
        assert view.counter_texts(t)["SHA"]["barrier"] == "waiting for 4 jobs of rung 2"
        assert c["ASHA"]["busy_workers"] == 10
    for t in (25.0, 40.0, 72.9):  # the last rung: 1 job, 9 idle workers
        c = view.counters_at(t)
        assert c["SHA"]["busy_workers"] == 1 and idle_lanes(t) == 9
        assert c["ASHA"]["busy_workers"] == 10
    # the second wave of rung 1: 6 jobs on 10 workers
    assert view.counters_at(11.5)["SHA"]["busy_workers"] == 6


def test_storyboard_numbers_at_the_horizon(view):
    c = view.counters
    assert c["SHA"]["configs_evaluated"] == 64
    assert c["SHA"]["time_to_max_resource"] == 73.0
    assert c["SHA"]["utilization"] == pytest.approx(208 / 730)  # 64 + 48 + 48 + 48 busy
    assert c["ASHA"]["utilization"] == 1.0
    assert c["ASHA"]["configs_evaluated"] == 190          # ~3x SHA's 64
    assert c["ASHA"]["time_to_max_resource"] == 70.0       # about SHA's makespan, not earlier
    # running jobs count as busy workers: ASHA is full at the horizon, SHA is done
    assert c["ASHA"]["busy_workers"] == 10 and c["SHA"]["busy_workers"] == 0
    texts = view.counter_texts(view.horizon)
    assert texts["SHA"]["busy"] == "28%" and texts["ASHA"]["busy"] == "100%"
    assert texts["SHA"]["barrier"] == "finished"


@pytest.mark.parametrize("t", [0.0, 0.5, 6.5, 7.0, 11.3, 13.0, 19.7, 30.0, 52.25, 70.0, 73.0])
def test_counters_at_frames_equal_an_independent_computation(view, t):
    counters = view.counters_at(t)
    for name in ("SHA", "ASHA"):
        ind = _independent_counters(view.results[name].timeline, t, 64)
        got = counters[name]
        assert got["busy_time"] == pytest.approx(ind["busy_time"], abs=1e-4)
        assert got["idle_time"] == pytest.approx(10 * t - ind["busy_time"], abs=1e-4)
        for key in ("jobs", "configs_evaluated", "busy_workers", "time_to_max_resource"):
            assert got[key] == ind[key], (name, key)


def test_promotion_times_sync_barriers_and_async_pulls(view):
    sha = view.promotions["SHA"]
    assert [(p["time"], p["to_rung"]) for p in sha] == \
        [(7.0, 1)] * 16 + [(13.0, 2)] * 4 + [(25.0, 3)]
    by_trial = {(r["trial_id"], r["rung"]): r for r in view.jobs["ASHA"]}
    for r in view.jobs["ASHA"]:
        if r["rung"] > 0:
            assert r["climb"] and r["promo"] == r["start"]  # pull-based: the start is the promotion
            below = by_trial[(r["trial_id"], r["rung"] - 1)]
            assert below["out"] == r["promo"] and below["end"] <= r["promo"]
    # ASHA's first promotion: when the first results arrive, the best of them climbs
    first = view.promotions["ASHA"][0]
    assert first["time"] == 1.0 and first["to_rung"] == 1
    rung0 = [r for r in view.jobs["ASHA"] if r["rung"] == 0 and r["end"] <= first["time"]]
    best = max(rung0, key=lambda r: r["value"])
    assert first["trial_id"] == best["trial_id"]
    assert view.promotion_times[0] == 1.0 and 7.0 in view.promotion_times


@pytest.mark.parametrize("stragglers", [0.0, 0.2])
def test_notebook_tables_and_the_widget_agree(stragglers):
    """Notebook 02's cells (same calls) and the widget show the same numbers."""
    bench = SyntheticBenchmark()
    kw = dict(min_resource=1, max_resource=64, reduction_factor=4, seed=0)
    sim = dict(n_workers=10, cost=1.0, straggler_probability=stragglers)
    sync = simulate(SHA(bench.space, n_configs=64, **kw), bench, **sim)
    asyn = simulate(ASHA(bench.space, max_trials=None, **kw), bench, max_time=sync.makespan,
                    **sim)
    v = PromotionView(n_configs=64, reduction_factor=4, n_workers=10,
                      straggler_probability=stragglers, seed=0)
    assert v.horizon == sync.makespan
    for name, res in (("SHA", sync), ("ASHA", asyn)):
        c = v.counters[name]
        assert c["utilization"] == pytest.approx(res.utilization)
        assert c["idle_time"] == pytest.approx(res.idle_time, abs=1e-6)
        assert c["jobs"] == res.n_jobs
        assert c["configs_evaluated"] == res.n_trials
        assert c["time_to_max_resource"] == res.time_to_max_resource
    assert sync.jobs_per_rung() == {0: 64, 1: 16, 2: 4, 3: 1}
    if stragglers:
        # the barriers also wait for stragglers; ASHA's first full training is not yet done
        assert sync.makespan == 80.0 and v.counters["ASHA"]["time_to_max_resource"] is None
        assert any(r["straggler"] for r in v.jobs["SHA"])


def test_sync_busy_workers_match_the_simulator(view):
    for name in ("SHA", "ASHA"):
        res = view.results[name]
        for t in (0.0, 3.5, 6.5, 12.0, 20.0, 50.0):
            assert view.counters_at(t)[name]["busy_workers"] == res.busy_workers(t)


def test_counter_texts_round_like_the_browser():
    from asha_nb.viz.lesson import _fixed

    # d3-format (JavaScript toFixed) rounds ties away from zero; Python's format would not
    assert _fixed(0.125, 2) == "0.13" and format(0.125, ".2f") == "0.12"
    assert _fixed(12.5, 0) == "13" and _fixed(72.96, 1) == "73.0"


# ------------------------------------------------------------------ widget
def test_slider_change_sends_one_consistent_frame():
    from asha_nb.widgets._sync import count_messages

    v = PromotionView()
    w = v.widget
    assert w is v.widget and "asha-promotion" in w._dom_classes
    player = v._player
    assert player.t == v.horizon and player.promotions == v.promotion_times
    old = v.horizon
    with count_messages() as log:
        v._controls["n_workers"].value = 11
    assert v.horizon != old
    msgs = [keys for mid, _, keys, _ in log.messages if mid == player.model_id]
    assert len(msgs) == 1 and {"spec", "t", "horizon", "promotions"} <= set(msgs[0])
    assert player.t == v.horizon == player.horizon
    rows = [r for r in player.spec["datasets"]["lesson_jobs"] if r["job_id"] != -1]
    assert len(rows) == len(v.rows) and rows[0]["trial_id"] == v.rows[0]["trial_id"]
    texts = v.counter_texts(v.horizon)
    for s in ("SHA", "ASHA"):
        for key in ("busy", "idle", "evaluated", "jobs", "top"):
            cell = f"data-scheduler='{s}' data-key='{key}'>{texts[s][key]}</td>"
            assert cell in v._final.value
    assert f"t = {v.horizon:.1f} s" in v._final.value


def test_time_property_moves_the_player():
    v = PromotionView()
    assert v.time == v.horizon
    _ = v.widget
    v.time = 20.0
    assert v._player.t == 20.0 and v.time == 20.0
    with pytest.raises(InvalidParameterError, match="time"):
        v.time = v.horizon + 1


def test_bad_arguments_name_the_argument():
    with pytest.raises(InvalidParameterError, match="n_workers must be an integer >= 1, got 0"):
        PromotionView(n_workers=0)
    with pytest.raises(InvalidParameterError, match="straggler_probability"):
        PromotionView(straggler_probability=1.5)
    with pytest.raises(InvalidTypeError, match="reduction_factor"):
        PromotionView(reduction_factor=2.5)
    with pytest.raises(InvalidParameterError, match="cost"):
        PromotionView(cost="fast")
    with pytest.raises(InvalidParameterError, match=r"\.html, \.gif"):
        PromotionView(n_configs=8).save("lesson.txt")


def test_resimulation_is_fast_enough_for_sliders():
    """Not a timing assertion (see benchmarks/): the work per slider move is two simulations
    and one spec; check the spec is built without altair's slow object layer."""
    v = PromotionView()
    spec = v.chart()
    assert isinstance(spec, dict) and spec["params"][0]["name"] == "t"


# ------------------------------------------------------------------ exports
def test_html_export_is_standalone_and_offline(view, tmp_path):
    path = view.save(tmp_path / "lesson.html")
    text = path.read_text()
    # nothing is loaded from elsewhere: no src/href/import/fetch of a URL
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*[\"']?https?:", text,
                         re.I)
    assert not re.search(r"import\s*\(?\s*[\"']https?:", text)
    # the only URLs in the file are identifiers that are never fetched
    allowed = ("http://www.w3.org/", "https://vega.github.io/schema/",
               "https://vega.github.io/editor", "https://github.com/vega/vega-lite/issues/")
    urls = set(re.findall(r"https?://[^\s\"'`)<>]+", text))
    assert urls and all(u.startswith(allowed) for u in urls), sorted(urls)
    assert "cdn.jsdelivr" not in text and "unpkg" not in text
    assert len(text) > 500_000  # vega, vega-lite and vega-embed are inlined
    assert '"lesson_jobs"' in text and '"scheduler": "ASHA"' in text
    assert "asha-final" in text and "Final values" in text


def test_gif_export_has_frames_that_move(view, tmp_path):
    from PIL import Image, ImageChops

    path = view.save(tmp_path / "lesson.gif", n_frames=4)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 4
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(im.convert("RGB"))
        assert im.size[0] > 800
    assert all(ImageChops.difference(a, b).getbbox() for a, b in zip(frames, frames[1:]))


def test_static_fallback_html(view):
    page = view._repr_html_()
    assert "<svg" in page and "Final values" in page and "28%" in page
    bundle = view._repr_mimebundle_()
    assert "text/html" in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert repr(view).startswith("<PromotionView horizon=73.0s SHA: 28% busy, 64 configs")


def test_svg_frame_shows_the_counters_of_that_frame(view, tmp_path):
    """The chart computes its counters in Vega; at chosen frames they read as Python says."""
    from asha_nb.viz.lesson import COUNTER_LABELS

    for t in (6.5, 20.0, 73.0):
        svg = view.save(tmp_path / f"f{t}.svg", time=t).read_text()
        for name in ("SHA", "ASHA"):
            block = re.search(rf'class="[^"]*{name}_counters_values_marks"(.*?)</g>', svg, re.S)
            shown = re.findall(r"<text[^>]*>([^<]*)</text>", block.group(1))
            want = view.counter_texts(t)[name]
            assert shown == [want[k].replace("&", "&amp;") for k in COUNTER_LABELS], (t, name)
        assert f"t = {t:.1f} s" in svg


def test_from_timeline_and_from_search():
    bench = SyntheticBenchmark()
    kw = dict(min_resource=1, max_resource=27, reduction_factor=3, seed=3)
    res = simulate(SHA(bench.space, n_configs=27, **kw), bench, n_workers=4, cost=1.0)
    pv = PromotionView.from_timeline(res.timeline, n_workers=4, synchronous=True)
    assert pv.schedulers == ("search",) and pv.resources == [1, 3, 9, 27]
    assert pv.panel_eta == 3 and pv.horizon == res.makespan
    assert pv.counters["search"]["configs_evaluated"] == 27
    assert pv.counters["search"]["utilization"] == pytest.approx(res.utilization)
    assert isinstance(pv.chart(), dict) and "<svg" in pv.static_html()

    from asha_nb.runtime import Search
    from asha_nb.space import uniform

    def objective(config, resource):
        return config["x"] * math.log1p(resource)

    s = Search(objective, {"x": uniform(0, 1)}, n_workers=2, max_trials=12, max_resource=9,
               reduction_factor=3, seed=0, progress=False)
    s.run()
    df = s.results()
    pv = PromotionView.from_search(s)
    finished = df[df["end"].notna()]
    assert pv.schedulers == (type(s.scheduler).__name__,)
    assert len(pv.rows) == len(finished)
    assert pv.counters[pv.schedulers[0]]["configs_evaluated"] == 12
    assert pv.resources == [1, 3, 9]
    assert "<svg" in pv.static_html()
