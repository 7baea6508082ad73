"""The worker timeline tells the truth in pixels: each worker row's coloured share equals the
worker's busy share (within 3 percentage points).

The dashboard's own timeline (its spec and datasets, as the notebook shows them) is rendered to
PNG with vl-convert, dark text on white. A worker's row is found by its grey idle track, which
spans the whole time axis under the jobs. Along the track, each pixel counts as busy by how much
colour it carries: a pure rung colour (or red, or their lighter "running" versions) counts 1, the
track's grey 0, and an anti-aliased edge pixel the share of colour mixed into it. A white
border between jobs counts 0 (that is how the old timeline lost its short jobs).
"""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import vl_convert as vlc
from PIL import Image

from asha_nb import SHA, space
from asha_nb.core.types import JobStatus
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.runtime.events import SearchState
from asha_nb.viz._common import FAILED_COLOUR, IDLE_GREY, rung_palette, tint
from asha_nb.widgets import Dashboard

from .conftest import job

TOLERANCE = 0.03


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


#: The idle track on white: IDLE_GREY at opacity 0.35.
TRACK = 255 + 0.35 * (_rgb(IDLE_GREY) - 255)


def timeline_png(dash: Dashboard) -> np.ndarray:
    """The dashboard's worker timeline alone, dark text on white, as an RGB array."""
    spec = dash.static_spec(ink="#222222", background="white")
    timeline = {k: v for k, v in spec.items() if k not in ("vconcat", "resolve", "spacing")}
    timeline.update(spec["vconcat"][1])
    png = vlc.vegalite_to_png(timeline, scale=1)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def colour_coverage(pixels: np.ndarray, n_rungs: int) -> np.ndarray:
    """How much busy colour each pixel carries (0: the track's grey, 1: a job colour)."""
    full = rung_palette(n_rungs) + [FAILED_COLOUR]
    colours = [_rgb(c) for c in full + [tint(c) for c in full]]  # lighter: running now
    p = pixels.reshape(-1, 3)
    best_alpha = np.zeros(len(p))
    best_res = np.linalg.norm(p - TRACK, axis=1)
    for c in colours:  # a job colour mixed with the grey (an edge against idle time)
        d = c - TRACK
        alpha = np.clip((p - TRACK) @ d / (d @ d), 0, 1)
        res = np.linalg.norm(p - (TRACK + alpha[:, None] * d), axis=1)
        better = res < best_res
        best_alpha[better], best_res[better] = alpha[better], res[better]
    for i, a in enumerate(colours):  # two job colours mixed (an edge between two jobs): busy
        for b in colours[i + 1:]:
            d = b - a
            t = np.clip((p - a) @ d / (d @ d), 0, 1)
            res = np.linalg.norm(p - (a + t[:, None] * d), axis=1)
            better = res < best_res
            best_alpha[better], best_res[better] = 1.0, res[better]
    return best_alpha.reshape(pixels.shape[:-1])


def row_shares(img: np.ndarray, n_rows: int, n_rungs: int) -> list[float]:
    """Coloured share of each worker row of a rendered timeline, top row first."""
    sat = img.max(axis=2) - img.min(axis=2)
    val = img.max(axis=2)
    # the grey track (grid lines show through it a little darker) or a job colour
    track = ((sat < 8) & (val > 150) & (val < 235)) | (sat >= 30)
    counts = track.sum(axis=1)
    rows = np.flatnonzero(counts >= 0.5 * counts.max())
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    bands = [b for b in bands if len(b) >= 3]  # not the frame's 1-pixel lines
    assert len(bands) == n_rows, f"found {len(bands)} worker rows, expected {n_rows}"
    shares = []
    for band in bands:
        mid = track[band[len(band) // 2]]
        # the track runs unbroken across the plot: the longest run of track pixels
        edges = np.flatnonzero(np.diff(np.r_[0, mid.astype(int), 0]))
        starts, ends = edges[::2], edges[1::2]
        k = int(np.argmax(ends - starts))
        cover = colour_coverage(img[band[0]:band[-1] + 1, starts[k]:ends[k]], n_rungs)
        shares.append(float(cover.mean()))
    return shares


def busy_shares(rows: list[dict], now: float, n_workers: int) -> list[float]:
    busy = [0.0] * n_workers
    for r in rows:
        end = now if r.get("end") is None else min(r["end"], now)
        busy[r["worker"]] += max(0.0, end - max(0.0, r["start"]))
    return [b / now for b in busy]


def test_short_jobs_with_small_gaps_are_drawn_busy(fake_search):
    """2,000 jobs of 10-20 ms on 4 workers. Workers 0 and 1 leave 2 % gaps, workers 2 and 3
    leave 20 % and 50 %: each row's colour must match, with every job far narrower than a
    pixel border would be (about one pixel each)."""
    rng = random.Random(0)
    gaps = [0.02, 0.02, 0.20, 0.50]
    now = 8.66  # about 2,000 jobs in all
    t = [0.0] * 4
    jid = 0
    while True:
        w = min(range(4), key=t.__getitem__)  # the worker that frees up first takes the next
        d = rng.uniform(0.010, 0.020)
        if t[w] + d > now:
            break
        status = JobStatus.FAILED if jid % 97 == 0 else JobStatus.OK
        fake_search.put(job(jid, jid, w, t[w], t[w] + d, rung=rng.choice([0, 0, 1, 2]),
                            status=status, value=None if status is JobStatus.FAILED else 0.5))
        jid += 1
        t[w] += d * (1 + gaps[w])
    assert 1900 <= jid <= 2100
    fake_search.elapsed = now
    fake_search.state = SearchState.FINISHED
    d = Dashboard(fake_search, start_timer=False)
    expected = busy_shares(d.datasets()["jobs"], now, 4)
    assert expected[0] > 0.95 and expected[3] < 0.70
    got = row_shares(timeline_png(d), 4, 4)
    for w in range(4):
        assert got[w] == pytest.approx(expected[w], abs=TOLERANCE), (w, got, expected)
    d.close()


def test_running_and_stuck_jobs_are_busy_to_now(fake_search):
    """Worker 0 finished a job and then ran one to "now"; worker 1 is stuck (timed out, still
    busy) since t = 2; worker 2 has been idle since t = 1; worker 3 never ran anything."""
    from asha_nb.runtime.events import RunningJobInfo

    fake_search.put(job(0, 0, 0, 0.0, 3.0))
    fake_search.put(job(1, 1, 0, 3.0, None, status=JobStatus.RUNNING, value=None))
    fake_search.put(job(2, 2, 1, 2.0, None, status=JobStatus.FAILED, value=None,
                        error="timed out after 1 s"))
    fake_search.put(job(3, 3, 2, 0.0, 1.0))
    fake_search.running = (RunningJobInfo(1, 1, 0, 1, 0, 3.0),
                           RunningJobInfo(2, 2, 0, 1, 1, 2.0, stuck=True))
    fake_search.elapsed = 10.0
    d = Dashboard(fake_search, start_timer=False)
    got = row_shares(timeline_png(d), 4, 4)
    assert got == pytest.approx([1.0, 0.8, 0.1, 0.0], abs=TOLERANCE)
    d.close()


def _objective(config, resource):
    return config["x"] * (1 - 1 / (resource + 1))


def test_a_synchronous_barrier_leaves_visible_idle_time():
    """SHA in virtual time with stragglers: workers wait at each rung barrier. The rows show
    exactly the busy share each worker had in search.results()."""
    sp = {"x": space.uniform(0, 1)}
    sched = SHA(sp, n_configs=27, min_resource=1, max_resource=27, reduction_factor=3, seed=0)
    s = Search(_objective, scheduler=sched, n_workers=6, progress=False,
               executor=SimulatedExecutor(cost=1.0, straggler_probability=0.3, seed=1)).run()
    d = Dashboard(s, start_timer=False)
    res = s.results()
    now = s.snapshot().elapsed
    expected = [float((g.end - g.start).sum() / now) for _, g in res.groupby("worker")]
    assert min(expected) < 0.5  # a real barrier: some worker idles most of the time
    got = row_shares(timeline_png(d), 6, 4)
    for w in range(6):
        assert got[w] == pytest.approx(expected[w], abs=TOLERANCE), (w, got, expected)
    d.close()
