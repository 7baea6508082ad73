"""Issue 17 in a real browser (JupyterLab + headless Debian chromium), one notebook, one run:

* the live worker timeline gets a lane for each worker ``set_n_workers`` adds (DOM: one idle
  track per lane, inside the plot), and a removed worker's track ends;
* Stop on a running row of a plain objective on threads: the row says "stopping…" and why
  while the job runs on, the list's title counts it, and the row goes when the job ends;
* no horizontal scrollbar in the dashboard's output, the learning-curves title and y-axis title
  are not clipped with negative y labels, no "Infinite extent" warning in the console;
* the promotion view's settings line has a contrast of at least 4.5:1 in JupyterLab Dark.

Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupyterlab  # noqa: F401 - the server the test starts
import nbformat
import playwright.sync_api as sync_api
import pytest
from _lab import CHROMIUM, ROOT, jupyter_lab, launch

ARTIFACTS = ROOT / "artifacts"
NOTEBOOK = "views.ipynb"

assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: run .ci/install-browser"

pytestmark = pytest.mark.slow

CELLS = [
    """import time
import asha_nb
from asha_nb import space
from asha_nb.widgets import PromotionView

calls = []

def objective(config, resource):       # values below 0: negative y labels
    calls.append(resource)
    time.sleep(6.0 if len(calls) <= 2 else 0.05 * resource)  # the first two jobs are long
    return config["x"] * resource / 9 - 3.0

search = asha_nb.Search(objective, {"x": space.uniform(0, 1)}, n_workers=2, max_resource=9,
                reduction_factor=3, seed=0, time_budget=40, progress=False)
search.at(2).set_n_workers(4)
search.at(9).set_n_workers(3)
search.start()""",
    "PromotionView(n_configs=16, reduction_factor=4, n_workers=4)",
]

_LANES_JS = """() => Array.from(document.querySelectorAll(
  '.asha-dashboard .asha-vega g.timeline_lanes_marks path')).map(p => {
    const r = p.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })"""


def _contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    def lum(c):
        ch = [v / 255 for v in c[:3]]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# the text colour as drawn (its opacity mixed over the background), and the first opaque
# background behind it
_COLOURS_JS = """(sel) => {
  const el = document.querySelector(sel);
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  let fg = rgba(getComputedStyle(el).color);
  let a = (fg.length > 3 ? fg[3] : 1) * Number(getComputedStyle(el).opacity);
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgba(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length > 3 && c[3] > 0.99)) bg = c.slice(0, 3);
  }
  bg = bg || [255, 255, 255];
  return [fg.slice(0, 3).map((v, i) => a * v + (1 - a) * bg[i]), bg];
}"""


def test_dashboard_and_promotion_view_round_two():
    ARTIFACTS.mkdir(exist_ok=True)
    console: list[str] = []
    errors: list[str] = []
    mark = 0
    with jupyter_lab("asha-views-", "asha-views-token") as (base, tmp):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
        nbformat.write(nb, tmp / "nb" / NOTEBOOK)
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            try:
                page.goto(f"{base}/lab/tree/{NOTEBOOK}?token=asha-views-token&reset")
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       timeout=60_000)
                if page.locator(".jp-Dialog").count():
                    page.locator(".jp-Dialog .jp-mod-accept").click()
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.wait_for_timeout(500)
                page.locator(".lm-Menu-itemLabel",
                             has_text=re.compile(r"^Run All Cells$")).click()

                # 1. Stop on a running row (a 6 s plain job on a thread)
                row = page.locator(".asha-dashboard .asha-running-row").first
                row.wait_for(timeout=90_000)
                trial = row.get_attribute("data-trial")
                row.locator("button.asha-stop-row").click()
                sel = f".asha-dashboard .asha-running-row[data-trial='{trial}'] .asha-stopping"
                page.wait_for_selector(sel, timeout=10_000)
                page.wait_for_timeout(1000)  # several polls later it still says so
                text = page.locator(sel).inner_text()
                assert text.startswith("stopping\u2026") and "cannot be interrupted" in text
                title = page.locator(".asha-dashboard .asha-running-title").inner_text()
                assert "1 of a stopped trial, still running" in title, title
                page.screenshot(path=str(ARTIFACTS / "views_stopping.png"), full_page=True)
                page.wait_for_function(
                    f"() => !document.querySelector(\".asha-dashboard .asha-running-row"
                    f"[data-trial='{trial}']\")", timeout=20_000)

                # from here on the charts have data: no "Infinite extent" warning at all (an
                # empty chart's y scale warns until its first value arrives)
                mark = len(console)

                # 2. lanes follow set_n_workers: 4 lanes from t = 2, worker 3 removed at 9
                page.wait_for_function(
                    "() => parseFloat(document.querySelector('.asha-dashboard .asha-elapsed')"
                    ".textContent) >= 12", timeout=60_000)
                page.wait_for_timeout(1500)
                lanes = page.evaluate(_LANES_JS)
                assert len(lanes) == 4, lanes
                plot = page.evaluate("""() => { const r = document.querySelector(
                    '.asha-dashboard .asha-vega svg').getBoundingClientRect();
                    return [r.top, r.bottom]; }""")
                tops = sorted(round(top) for _, top, _, _ in lanes)
                assert len(set(tops)) == 4 and plot[0] < tops[0] and tops[-1] < plot[1]
                by_top = sorted(lanes, key=lambda r: r[1])
                # lanes 2 and 3 start at t = 2; lane 3's track ends at t = 9
                assert by_top[2][0] > by_top[0][0] + 2 and by_top[3][0] > by_top[0][0] + 2
                assert by_top[3][2] < by_top[2][2] - 5
                dash_out = page.locator(".jp-OutputArea-output").filter(
                    has=page.locator(".asha-dashboard")).first
                dash_out.screenshot(path=str(ARTIFACTS / "views_dashboard_lanes.png"))

                # 3. no horizontal scrollbar; titles inside the chart
                overflow = page.evaluate("""() => Array.from(document.querySelectorAll(
                    '.jp-OutputArea-output')).filter(o => o.querySelector('.asha-dashboard'))
                    .flatMap(o => [o, ...o.querySelectorAll('*')])
                    .filter(e => e.scrollWidth > e.clientWidth + 1 &&
                            ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
                    .map(e => e.className + ' ' + e.scrollWidth + '>' + e.clientWidth + ' ' +
                         Array.from(e.querySelectorAll('*')).filter(c =>
                           c.getBoundingClientRect().right > e.getBoundingClientRect().left
                           + e.clientWidth).slice(0, 4).map(c => c.tagName + '.' +
                           c.className + ':' + Math.round(c.getBoundingClientRect().right))
                         .join(' | '))""")
                assert overflow == [], overflow
                clipped = page.evaluate("""() => {
                    const svg = document.querySelector('.asha-dashboard .asha-vega svg');
                    const box = svg.getBoundingClientRect();
                    return Array.from(svg.querySelectorAll('text')).filter(t =>
                      ['Learning curves', 'value (higher is better)'].includes(t.textContent))
                      .map(t => t.getBoundingClientRect())
                      .filter(r => r.left < box.left - 0.5 || r.top < box.top - 0.5)
                      .map(r => [r.left, r.top, box.left, box.top]); }""")
                assert clipped == [], clipped
                labels = page.evaluate("""() => Array.from(document.querySelectorAll(
                    '.asha-dashboard .asha-vega svg text')).map(t => t.textContent)""")
                assert any(x.startswith("\u2212") or x.startswith("-") for x in labels)

                # 4. the promotion view's settings line, in JupyterLab Dark
                page.get_by_role("menuitem", name="Settings", exact=True).click()
                page.wait_for_timeout(400)
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).click()
                page.wait_for_timeout(400)
                page.locator(".lm-Menu-itemLabel",
                             has_text=re.compile(r"^JupyterLab Dark$")).click()
                page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'",
                                       timeout=30_000)
                page.wait_for_selector(".asha-promotion .asha-lesson-settings", timeout=60_000)
                page.wait_for_timeout(800)
                fg, bg = page.evaluate(_COLOURS_JS, ".asha-promotion .asha-lesson-settings")
                ratio = _contrast(fg, bg)
                assert ratio >= 4.5, (fg, bg, ratio)
                page.locator(".asha-promotion").first.screenshot(
                    path=str(ARTIFACTS / "views_promotion_dark.png"))
                n_inf = sum("Infinite extent" in m for m in console)
                (ARTIFACTS / "views_numbers.txt").write_text(
                    f"Infinite extent warnings: {n_inf} in all, "
                    f"{sum('Infinite extent' in m for m in console[mark:])} once data arrived\n"
                    f"settings line contrast in JupyterLab Dark: {ratio:.2f}:1 (fg {fg}, bg {bg})\n"
                    f"lanes (left, top, width, height): {lanes}\n")
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "views_failure.png"), full_page=True)
                raise
            finally:
                (ARTIFACTS / "views_console.txt").write_text("\n".join(console))
                browser.close()
    infinite = [m for m in console[mark:] if "Infinite extent" in m]
    assert infinite == [], infinite[:5]
    assert not [e for e in errors if "asha" in e.lower() or "vega" in e.lower()], errors
