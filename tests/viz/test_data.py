"""The views' plain data (asha_nb.viz.data): rows and counters computed without drawing."""

from __future__ import annotations

import random
import re

import pytest
import vl_convert as vlc

from asha_nb.viz import data
from asha_nb.viz.data import IDLE_DOT_PX, IDLE_WORD_PX


def test_idle_intervals_are_the_gaps_of_each_worker():
    jobs = [{"worker": 0, "start": 1.0, "end": 3.0}, {"worker": 0, "start": 2.0, "end": 4.0},
            {"worker": 1, "start": 0.0, "end": 10.0}]
    idle = data.idle_intervals(jobs, 3, 10.0)
    assert idle == [{"worker": 0, "start": 0.0, "end": 1.0},
                    {"worker": 0, "start": 4.0, "end": 10.0},
                    {"worker": 2, "start": 0.0, "end": 10.0}]


def test_frame_counters_of_a_hand_made_run():
    """Two workers: a rung-0 job on each, then one rung-1 job: counted at three frames."""
    raw = [{"job_id": 0, "worker": 0, "trial_id": 0, "rung": 0, "resource": 1, "start": 0.0,
            "end": 1.0, "value": 0.5},
           {"job_id": 1, "worker": 1, "trial_id": 1, "rung": 0, "resource": 1, "start": 0.0,
            "end": 2.0, "value": 0.7},
           {"job_id": 2, "worker": 1, "trial_id": 1, "rung": 1, "resource": 3, "start": 2.0,
            "end": 5.0, "value": 0.8}]
    rows = data.lesson_rows(raw, horizon=5.0, n_workers=2, synchronous=True)
    c = data.frame_counters(rows, 2, 3.0)
    assert (c["busy_time"], c["idle_time"], c["jobs"], c["busy_workers"]) == (4.0, 2.0, 2, 1)
    assert c["configs_evaluated"] == 2 and c["last_promotion"] == (2.0, 1, 1, 1, 1)
    texts = data.format_counters(c, synchronous=True)
    assert texts["busy"] == "67%" and texts["barrier"] == "waiting for 1 job of rung 1"
    assert texts["promotion"] == "#1, rung 0 \u2192 1 at t = 2.0"
    end = data.frame_counters(rows, 2, 5.0)
    assert end["time_to_max_resource"] == 5.0 and end["busy_workers"] == 0


def _random_idle(seed, n_workers=6, horizon=100.0):
    rng = random.Random(seed)
    out = []
    for w in range(n_workers):
        t = 0.0
        while t < horizon:
            gap = rng.choice([0.05, 0.3, 0.6, 1.0, 2.0, 12.0]) * rng.random()
            s, e = t, min(horizon, t + gap)
            if e > s:
                out.append({"scheduler": "SHA", "worker": w, "start": s, "end": e})
            t = e + rng.uniform(0.05, 3.0)
    return out


@pytest.mark.parametrize("lane_height", [16, 7])
@pytest.mark.parametrize("seed", range(4))
def test_every_short_idle_interval_gets_one_readable_label(seed, lane_height):
    """Each idle interval narrower than the word "idle" but as wide as a dot is marked by
    exactly one dot (its own or a neighbour's it shares); dots sit in their interval's grey and
    never overlap each other or a word."""
    horizon, width = 100.0, 385.0
    px = width / horizon
    idle = _random_idle(seed, horizon=horizon)
    rows = data.label_idle(idle, horizon=horizon, width=width, lane_height=lane_height)
    assert [(r["worker"], r["start"]) for r in rows] == [(r["worker"], r["start"]) for r in idle]
    every = data.idle_word_every(lane_height)
    for w in range(6):
        lane = sorted((r for r in rows if r["worker"] == w), key=lambda r: r["start"])
        dots = [r for r in lane if r["dot"]]
        # every interval the word does not label and a dot fits in is covered by one dot
        want = [r for r in lane if (r["end"] - r["start"]) * px >= IDLE_DOT_PX
                and not (w % every == 0 and (r["end"] - r["start"]) * px >= IDLE_WORD_PX)]
        assert sum(d["dot_n"] for d in dots) == len(want)
        assert abs(sum(d["dot_idle"] for d in dots) - sum(r["end"] - r["start"] for r in want)) \
            < 1e-9
        for d in dots:
            assert d["start"] <= d["dot_x"] <= d["end"]  # in the middle of its own grey
            assert d["dot_t"] == d["dot_to"] >= d["end"]  # shown once its intervals ended
        xs = [d["dot_x"] * px for d in dots]
        assert all(b - a >= IDLE_DOT_PX + 2 - 1e-9 for a, b in zip(xs, xs[1:]))
        words = [(r["start"] * px, r["end"] * px) for r in lane
                 if w % every == 0 and (r["end"] - r["start"]) * px >= IDLE_WORD_PX]
        for x in xs:
            assert not any(a - IDLE_DOT_PX / 2 < x < b + IDLE_DOT_PX / 2 for a, b in words)


def _label_boxes(svg, group):
    block = re.search(rf'class="(?:[^"]* )?{group}"(.*?)</g>', svg, re.S)
    return block.group(1) if block else ""


def test_the_lesson_draws_the_dots_without_overlap():
    """At t = 20 of 73 the SHA workers that waited a little at the first barrier have a dot; the
    rendered "idle" words and dots do not overlap (SVG positions, as the browser draws them)."""
    from asha_nb.widgets import PromotionView

    view = PromotionView()
    t = 20.0
    svg = vlc.vegalite_to_svg(view.chart(time=t))
    words = [(float(x), float(y)) for x, y in re.findall(
        r'<text[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"[^>]*>idle</text>',
        _label_boxes(svg, "SHA_lanes_idletext_marks"))]
    dots = [(float(x), float(y)) for x, y in re.findall(
        r'<path[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"',
        _label_boxes(svg, "SHA_lanes_idledot_marks"))]
    labelled = data.label_idle(view.idle["SHA"], horizon=view.horizon, width=385,
                               lane_height=16)
    assert len(dots) == sum(1 for r in labelled if r["dot"] and r["dot_t"] <= t) >= 4
    assert len(words) >= 6
    boxes = [(x - 13, x + 13, y - 5.5, y + 5.5) for x, y in words]
    boxes += [(x - 1.5, x + 1.5, y - 1.5, y + 1.5) for x, y in dots]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2], (a, b)
