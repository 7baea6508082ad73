"""GIF frames (asha_nb.viz.export): the fast render draws the same pictures as a full one."""

from __future__ import annotations

import io

import pytest
import vl_convert as vlc
from PIL import Image, ImageChops

from asha_nb.viz import export


@pytest.fixture(scope="module")
def lesson_vega():
    from asha_nb.widgets import PromotionView

    view = PromotionView()
    vg = vlc.vegalite_to_vega(view.chart())
    vg["background"] = "white"
    return view, vg


def _full(vg, t):
    png = vlc.vega_to_png(export._at(vg, "t", t))
    return Image.open(io.BytesIO(png)).convert("RGB")


def test_frames_equal_a_full_render_of_each(lesson_vega):
    """Frames at the start, a promotion, SHA's barrier and the end: the same size and the same
    pixels as vl-convert's full render of each frame (up to anti-aliasing of text edges)."""
    view, vg = lesson_vega
    times = [0.0, 7.0, 25.0, 53.0, view.horizon]
    frames = export.render_frames(vg, times)
    assert len(frames) == len(times)
    for t, frame in zip(times, frames):
        full = _full(vg, t)
        assert frame.size == full.size
        diff = ImageChops.difference(frame, full).convert("L")
        hist = diff.histogram()
        assert sum(hist[48:]) <= 20, (t, sum(hist[48:]))  # no text or mark missing or moved
        assert sum(i * n for i, n in enumerate(hist)) / (frame.size[0] * frame.size[1]) < 0.1


def test_text_that_changes_is_drawn_per_frame(lesson_vega):
    """The clock's text differs in every frame: it is not in the overlay, and each frame
    shows its own (the two frames differ where the clock is)."""
    view, vg = lesson_vega
    a, b = export.render_frames(vg, [10.0, 20.0])
    clock = (0, 0, 300, 60)
    assert ImageChops.difference(a.crop(clock), b.crop(clock)).getbbox() is not None
    same = ImageChops.difference(a.crop(clock), _full(vg, 10.0).crop(clock)).convert("L")
    assert max(same.getextrema()) < 48  # the same text, up to anti-aliasing


def test_gif_has_every_frame_and_holds_the_last():
    frames = []
    for k in range(3):  # a red square moving right; the last frame holds every colour
        im = Image.new("RGB", (30, 10), "white")
        im.paste((255, 0, 0), (10 * k, 0, 10 * k + 10, 10))
        frames.append(im)
    frames[-1].paste((0, 0, 255), (0, 0, 5, 5))
    gif = Image.open(io.BytesIO(export.frames_to_gif(frames, frame_ms=100, hold_ms=900)))
    assert gif.n_frames == 3
    durations = []
    for i in range(3):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert durations == [100, 100, 900]
