"""The lesson's GIF export: a full render of every frame versus :func:`render_frames`.

Renders the default :class:`asha_nb.widgets.PromotionView` lesson (64 configurations, eta 4,
10 workers) as ``--frames`` frames, alternating the two ways side by side ``--repeats`` times,
and prints the median wall-clock and CPU seconds of each and their ratio:

* ``full``: each frame rendered to PNG by vl-convert (``vega_to_png``), as the export did;
* ``overlay``: :func:`asha_nb.viz.export.render_frames`: no tooltips or ARIA descriptions
  computed, each frame's SVG rasterized without the text that is the same in every frame,
  which is rasterized once per layout and laid on top.

The GIF assembly after the frames (quantizing, encoding: about 0.2 s for 30 frames) is the
same for both and not timed.

Usage: ``python benchmarks/bench_gif.py [--frames 30] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _cpu() -> float:
    """CPU seconds of this process (vl-convert's threads included)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def full_render(vg: dict[str, Any], times: list[float]) -> list[Any]:
    import vl_convert as vlc
    from PIL import Image

    def render(t: float) -> Any:
        spec = copy.deepcopy(vg)
        for s in spec.get("signals", []):
            if s.get("name") == "t":
                s["value"] = t
        return Image.open(io.BytesIO(vlc.vega_to_png(spec))).convert("RGB")

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(render, times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import vl_convert as vlc

    from asha_nb.viz.export import render_frames
    from asha_nb.widgets import PromotionView

    view = PromotionView()
    vg = vlc.vegalite_to_vega(view.chart())
    vg["background"] = "white"
    times = view.frame_times(args.frames)
    ways = {"full": lambda: full_render(vg, times),
            "overlay": lambda: render_frames(vg, times, signal="t")}
    ways["full"]()  # warm up vl-convert (its JavaScript runtime starts on first use)
    wall: dict[str, list[float]] = {k: [] for k in ways}
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(args.repeats):
        for name, fn in ways.items():
            w0, c0 = time.perf_counter(), _cpu()
            frames = fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(_cpu() - c0)
            assert len(frames) == len(times)
    print(f"GIF frames of the default lesson: {len(times)} frames, "
          f"{args.repeats} runs each, medians")
    print(f"{'way':<11}{'wall s':>9}{'s/frame':>9}{'CPU s':>9}{'wall / full':>13}")
    full = statistics.median(wall["full"])
    for name in ways:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:<11}{w:>9.2f}{w / len(times):>9.3f}{c:>9.2f}{w / full:>12.2f}x")
    print(f"(CPUs: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
