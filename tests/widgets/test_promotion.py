"""The teaching view: SHA vs ASHA through the simulator."""

from __future__ import annotations

import re

import pytest

from asha_nb.widgets import PromotionView


@pytest.fixture(scope="module")
def view():
    return PromotionView()


def test_default_sha_idles_more_than_asha(view):
    c = view.counters
    assert c["SHA"]["idle_share"] > c["ASHA"]["idle_share"]
    assert c["SHA"]["idle_time"] > c["ASHA"]["idle_time"]
    # same horizon, ASHA evaluates more configurations and reaches max resource earlier
    assert c["SHA"]["horizon"] == c["ASHA"]["horizon"] == view.horizon
    assert c["SHA"]["configs_evaluated"] == 64
    assert c["ASHA"]["configs_evaluated"] > 64
    assert c["ASHA"]["time_to_max_resource"] < c["SHA"]["time_to_max_resource"]


def test_rows_are_clipped_to_the_horizon(view):
    assert {r["scheduler"] for r in view.rows} == {"SHA", "ASHA"}
    assert all(r["start"] < view.horizon and r["end"] <= view.horizon for r in view.rows)


def test_save_writes_offline_html_with_data(view, tmp_path):
    path = view.save(tmp_path / "lesson.html")
    text = path.read_text()
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?https?:", text, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?https?:", text, re.I)
    assert "vegaEmbed" in text or "vega-embed" in text
    assert '"lesson"' in text and '"scheduler": "ASHA"' in text
    assert 'id="asha-play"' in text and 'id="asha-t"' in text


def test_static_fallback_html(view):
    page = view._repr_html_()
    assert "<svg" in page and "utilization" in page
    bundle = view._repr_mimebundle_()
    assert "text/html" in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_widget_play_drives_frame_param_without_resending_data(view):
    from asha_nb.widgets._sync import count_messages

    w = view.widget
    assert view._vega.frame_param == "t"
    assert view._vega.frame_step == pytest.approx(view.horizon / view.frames)
    with count_messages() as log:
        view._vega.frame = 10  # what the jslinked Play does in the browser
    assert all("spec" not in keys for _, _, keys, _ in log.messages)
    assert w is view.widget


def test_sliders_resimulate(view):
    _ = view.widget  # build it
    before = view.counters["SHA"]["jobs"]
    view._controls["n_configs"].value = 16
    assert view.counters["SHA"]["configs_evaluated"] == 16
    assert view.counters["SHA"]["jobs"] != before
    assert view._vega.spec["datasets"]["lesson"] == view.rows
    view._controls["n_configs"].value = 64


def test_from_timeline_replays_one_run(view):
    pv = PromotionView.from_timeline(view.results["SHA"].timeline, n_workers=10)
    assert pv.schedulers == ("search",)
    assert pv.counters["search"]["configs_evaluated"] == 64
    assert pv.horizon == pytest.approx(view.results["SHA"].makespan)
