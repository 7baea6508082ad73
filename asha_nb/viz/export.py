"""Frames of an animated chart, rendered offline, and the GIF made of them.

:func:`render_frames` renders a Vega spec once per value of a time signal with vl-convert. It
does not compute what an image does not show (tooltips, ARIA descriptions) and does not
rasterize the same text again for every frame: the text elements that are the same in every
frame (titles, axis labels, the legend, the counters' names: about 70 % of the lesson's text,
and most of a frame's rasterizing time) are drawn once per layout into a transparent overlay,
and each frame rasterizes its SVG without them and lays the overlay on top. The frames are
the same pictures as a full render of each (checked in ``tests/viz``); :func:`frames_to_gif`
assembles them with one palette.

The frames are rendered one after the other: threads showed no clear gain on a 2-CPU machine
(vl-convert runs each process's Vega conversions on one JavaScript runtime), and worker
processes would need the caller's script to guard its top level (``if __name__ ==
"__main__":``) where they are spawned.
"""

from __future__ import annotations

import copy
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import import_extra

if TYPE_CHECKING:  # Pillow and vl-convert are imported when a frame is rendered
    from PIL.Image import Image

__all__ = ["render_frames", "frames_to_gif"]

_TEXT = re.compile(r"<text\b[^>]*>.*?</text>", re.S)
_DEFS = re.compile(r"<defs>.*?</defs>", re.S)
_DRAWN = re.compile(r"<(path|line|rect|circle|ellipse|polygon|polyline|image)\b"
                    r"(?:[^>]*?/>|[^>]*?>.*?</\1>)", re.S)
_PLACED = re.compile(r"<svg\b[^>]*>|<g transform=\"[^\"]*\">")


def _pillow() -> Any:
    return import_extra("PIL.Image", "widgets", "pillow")


def _vl_convert() -> Any:
    return import_extra("vl_convert", "widgets", "vl-convert-python")


def _at(spec: Mapping[str, Any], signal: str, value: float) -> dict[str, Any]:
    out = copy.deepcopy(dict(spec))
    for s in out.get("signals", []):
        if s.get("name") == signal:
            s["value"] = value
    return out


def _lean(node: Any) -> Any:
    """``node`` without what an image does not show: tooltips and ARIA descriptions (Vega
    computes them for every item; the SVG is half as long without them). In place."""
    if isinstance(node, dict):
        encode = node.get("encode")
        if isinstance(encode, dict):
            for block in encode.values():
                if isinstance(block, dict):
                    block.pop("tooltip", None)
                    block.pop("description", None)
                    block["aria"] = {"value": False}
        for value in node.values():
            _lean(value)
    elif isinstance(node, list):
        for value in node:
            _lean(value)
    return node


def _layout(svg: str) -> str:
    """The frame's size and every group's transform: frames with the same layout draw a text
    element with the same markup at the same place."""
    return "".join(_PLACED.findall(_TEXT.sub("", svg)))


def _overlay(svg: str, keep: Callable[[str], bool]) -> str:
    """``svg`` with only the text elements ``keep`` accepts (no shapes, no background)."""
    defs = _DEFS.findall(svg)  # clip paths stay: a clipped text stays clipped
    body = _DEFS.sub("\x00", svg)
    body = _TEXT.sub(lambda m: m.group(0) if keep(m.group(0)) else "", body)
    body = _DRAWN.sub("", body)
    for d in defs:
        body = body.replace("\x00", d, 1)
    return body


def _svg(spec: Mapping[str, Any], signal: str, t: float) -> str:
    svg: str = _vl_convert().vega_to_svg(_at(spec, signal, t))
    return svg


def render_frames(spec: Mapping[str, Any], times: Sequence[float], *, signal: str = "t",
                  scale: float = 1.0) -> list[Image]:
    """One RGB image per time: ``spec`` (a Vega spec, e.g. from ``vegalite_to_vega``) with
    the signal ``signal`` set to each of ``times``.

    Parameters
    ----------
    spec
        A Vega spec with a top-level signal named ``signal`` (its background is the frames').
    times
        The signal's value in each frame.
    scale
        Pixels per chart pixel.
    """
    pil = _pillow()
    vlc = _vl_convert()
    lean = _lean(copy.deepcopy(dict(spec)))
    svgs = [_svg(lean, signal, float(t)) for t in times]
    counts = [Counter(_TEXT.findall(svg)) for svg in svgs]
    # text drawn the same in every frame (same markup, as often): drawn once per layout
    static = {k for k, c in counts[0].items() if all(other.get(k) == c for other in counts[1:])}
    layouts = [_layout(svg) for svg in svgs]
    first = {lay: i for i, lay in reversed(list(enumerate(layouts)))}

    def png(svg: str) -> Image:
        im: Image = pil.open(io.BytesIO(vlc.svg_to_png(svg, scale=scale)))
        return im.convert("RGBA")

    overlays = {lay: png(_overlay(svgs[i], static.__contains__)) for lay, i in first.items()}
    frames: list[Image] = []
    for svg, lay in zip(svgs, layouts):
        bare = _TEXT.sub(lambda m: "" if m.group(0) in static else m.group(0), svg)
        frames.append(pil.alpha_composite(png(bare), overlays[lay]).convert("RGB"))
    return frames


def frames_to_gif(frames: Sequence[Image], *, frame_ms: int = 140, hold_ms: int = 2500,
                  colors: int = 128) -> bytes:
    """An endless GIF of ``frames``, ``frame_ms`` each, the last held ``hold_ms``.

    One palette for every frame, from the last (fullest) one: colours do not flicker between
    frames, and mapping to a given palette is 4x faster than a median cut of each.
    """
    pil = _pillow()
    palette = frames[-1].quantize(colors=colors, method=pil.Quantize.MEDIANCUT)
    quantized = [im.quantize(palette=palette, dither=pil.Dither.NONE) for im in frames]
    out = io.BytesIO()
    durations = [frame_ms] * (len(quantized) - 1) + [hold_ms]
    quantized[0].save(out, format="GIF", save_all=True, append_images=quantized[1:],
                      duration=durations, loop=0, optimize=False, disposal=1)
    return out.getvalue()
