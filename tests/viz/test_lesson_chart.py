"""The lesson's worker lanes are true: the coloured area of each lane is its busy time.

Each lane is rendered to PNG by vl-convert (the same renderer as the GIF export and the static
fallback) and its pixels are counted: a pixel is "coloured" if it has a hue (a job's rung
colour), "idle" if it is neutral (white background, the idle grey, the grey "idle" label).
"""

from __future__ import annotations

import io
import random

import vl_convert as vlc
from PIL import Image as PIL_Image

from asha_nb.viz import lesson
from asha_nb.viz._common import rung_palette

WIDTH = 600
LANE = 16


def _render_lanes(jobs, idle, *, n_workers, horizon, n_rungs):
    spec = lesson.worker_lanes_chart(jobs, idle, time=None, n_workers=n_workers,
                                     horizon=horizon, n_rungs=n_rungs, width=WIDTH,
                                     lane_height=LANE, title=None)
    # the plot area only: no axes, no padding -> image pixels == plot pixels
    spec["config"] = {**spec.get("config", {}), "axis": {"disable": True}}
    spec["padding"] = 0
    spec["autosize"] = {"type": "none"}
    png = vlc.vegalite_to_png(spec, scale=1)
    img = PIL_Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == (WIDTH, LANE * n_workers)
    return img


def _lane_rows(n_workers):
    """Pixel rows through the middle of each lane (the band scale of worker_lanes_chart)."""
    inner, outer = 0.18, 0.09
    height = LANE * n_workers
    step = height / (n_workers - inner + 2 * outer)
    band = step * (1 - inner)
    return [int(outer * step + w * step + band / 2) for w in range(n_workers)]


def _coloured_fraction(img, row):
    coloured = 0
    for x in range(img.size[0]):
        r, g, b = img.getpixel((x, row))
        if max(r, g, b) - min(r, g, b) >= 25:  # has a hue: a rung colour (or a blend of one)
            coloured += 1
    return coloured / img.size[0]


def _busy_fraction(jobs, worker, horizon):
    spans = sorted((j["start"], min(j["end"], horizon)) for j in jobs if j["worker"] == worker)
    busy, cursor = 0.0, 0.0
    for s, e in spans:
        s = max(s, cursor)
        if e > s:
            busy += e - s
            cursor = e
    return busy / horizon


def _check_lanes(jobs, *, n_workers, horizon, n_rungs, tolerance=0.03):
    idle = lesson.idle_intervals(jobs, n_workers, horizon)
    img = _render_lanes(jobs, idle, n_workers=n_workers, horizon=horizon, n_rungs=n_rungs)
    out = []
    for w, row in enumerate(_lane_rows(n_workers)):
        drawn = sum(_coloured_fraction(img, row + d) for d in (-2, 0, 2)) / 3
        busy = _busy_fraction(jobs, w, horizon)
        out.append((w, busy, drawn))
        assert abs(drawn - busy) <= tolerance, (w, busy, drawn)
    return out


def test_colours_are_told_apart_from_idle():
    colours = rung_palette(4)
    grey = lesson.IDLE_COLOUR
    chroma = [max(c) - min(c) for c in
              ([int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in colours)]
    assert min(chroma) >= 70  # every rung colour has a clear hue...
    g = [int(grey[i:i + 2], 16) for i in (1, 3, 5)]
    assert max(g) - min(g) == 0 and 150 < g[0] < 230  # ...the idle grey has none, and shows
    # rung 0 light, top rung dark (the docstrings' order)
    lum = [0.2126 * int(h[1:3], 16) + 0.7152 * int(h[3:5], 16) + 0.0722 * int(h[5:7], 16)
           for h in colours]
    assert lum == sorted(lum, reverse=True)


def test_many_short_jobs_with_small_gaps_are_drawn_busy():
    """4 workers, 2,000 jobs of 10-20 ms with 2 % gaps: each ~1 px wide, no white stripes."""
    rng = random.Random(7)
    jobs = []
    cursor = [0.0] * 4
    for i in range(2000):
        w = i % 4
        d = rng.uniform(0.010, 0.020)
        jobs.append({"job_id": i, "worker": w, "trial_id": i, "rung": rng.choice([0, 0, 1, 2]),
                     "start": cursor[w], "end": cursor[w] + d})
        cursor[w] += d / 0.98  # a 2 % gap after each job
    horizon = max(cursor)
    result = _check_lanes(jobs, n_workers=4, horizon=horizon, n_rungs=4)
    assert all(busy > 0.9 for _, busy, _ in result)


def test_a_real_barrier_is_drawn_idle():
    """SHA's final frame (64 configurations, eta = 4, 10 workers): up to 80 % idle lanes."""
    from asha_nb.widgets import PromotionView

    view = PromotionView(n_configs=64, reduction_factor=4, n_workers=10)
    result = _check_lanes(view.jobs["SHA"], n_workers=10, horizon=view.horizon, n_rungs=4)
    fractions = sorted(busy for _, busy, _ in result)
    assert fractions[0] < 0.25 and fractions[-1] == 1.0  # lane 0 ran the rung-3 job


def test_a_white_stroke_would_fail_the_check():
    """The check itself can fail: the old 1.5 px white border makes ~1 px jobs look idle."""
    rng = random.Random(3)
    jobs, cursor = [], 0.0
    for i in range(500):
        d = rng.uniform(0.010, 0.020)
        jobs.append({"job_id": i, "worker": 0, "trial_id": i, "rung": 1, "start": cursor,
                     "end": cursor + d})
        cursor += d / 0.98
    spec = lesson.worker_lanes_chart(jobs, lesson.idle_intervals(jobs, 1, cursor), time=None,
                                     n_workers=1, horizon=cursor, n_rungs=4, width=WIDTH,
                                     lane_height=LANE, title=None)
    bars = next(layer for layer in spec["layer"] if layer.get("name", "").endswith("_jobs"))
    bars["mark"].update(stroke="white", strokeWidth=1.5)
    spec["config"] = {"view": {"stroke": None}, "axis": {"disable": True}}
    spec["padding"] = 0
    spec["autosize"] = {"type": "none"}
    img = PIL_Image.open(io.BytesIO(vlc.vegalite_to_png(spec))).convert("RGB")
    drawn = _coloured_fraction(img, _lane_rows(1)[0])
    assert _busy_fraction(jobs, 0, cursor) - drawn > 0.03


def test_lane_spec_validates_against_vega_lite():
    import altair as alt

    from asha_nb.widgets import PromotionView

    view = PromotionView(n_configs=16, n_workers=4)
    alt.VConcatChart.from_dict(view.chart(), validate=True)
    spec = lesson.worker_lanes_chart(view.jobs["SHA"], view.idle["SHA"], time="t",
                                     time_value=3.0, n_workers=4, horizon=view.horizon,
                                     n_rungs=view.n_rungs, synchronous=True)
    alt.LayerChart.from_dict(spec, validate=True)


def _walk(obj, key):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out.append(v)
            out.extend(_walk(v, key))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_walk(v, key))
    return out


def test_lesson_chart_declares_time_once_and_every_part_reads_it():
    from asha_nb.widgets import PromotionView

    view = PromotionView(n_configs=16, n_workers=4)
    spec = lesson.lesson_chart(view.rows, [r for s in view.schedulers for r in view.idle[s]],
                               schedulers=view.schedulers, n_workers=4,
                               synchronous={"SHA": True, "ASHA": False},
                               horizon=view.horizon, time_value=5.0)
    names = [p["name"] for ps in _walk(spec, "params") for p in ps]
    assert names == ["t"] and spec["params"][0]["value"] == 5.0
    filters = [f for f in _walk(spec, "filter") if isinstance(f, str)]
    assert any("datum.start < t" in f for f in filters)  # lanes: jobs started by t
    assert any("t >= datum.promo" in f for f in filters)  # shelves: marks entered by t
    rows = [r for r in spec["datasets"]["lesson_jobs"] if r["job_id"] != -1]
    assert len(rows) == len(view.rows)
    # one placeholder per scheduler and rung keeps every shelf's counts from frame 0
    assert len(spec["datasets"]["lesson_jobs"]) - len(rows) == 2 * view.n_rungs
