"""The promotion view in a real browser: JupyterLab + headless Debian chromium (Playwright).

Opens a notebook with ``PromotionView()`` and checks what a student sees:

* at the last frame, and again after moving the "workers" slider without pressing Play, every
  counter drawn in the chart equals the final-values table and the time readout shows the
  new horizon (no stale frame);
* Play advances the time readout and the counters; Pause stops them; "Step to next promotion"
  moves to a promotion and the "last promotion" counter changes;
* no request leaves 127.0.0.1 (every request the page makes is recorded);
* the standalone HTML export plays from ``file://`` with no request at all.

Screenshots go to ``artifacts/`` (``promotion_view.png`` is the README's picture).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import jupyterlab  # noqa: F401 - the server the test starts
import nbformat
import playwright.sync_api as sync_api
import pytest
from _lab import CHROMIUM, ROOT, jupyter_lab, launch

ARTIFACTS = ROOT / "artifacts"
NOTEBOOK = "lesson.ipynb"
KEYS = ("busy", "idle", "evaluated", "jobs", "top", "now", "barrier", "promotion")
TABLE_KEYS = ("busy", "idle", "evaluated", "jobs", "top")

# `make test` installs everything this test needs: a missing piece is a failure, not a skip.
assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: run .ci/install-browser"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab():
    with jupyter_lab("asha-lesson-", "asha-lesson-token") as (base, tmp):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(
            "from asha_nb.widgets import PromotionView\n"
            "view = PromotionView(n_configs=64, reduction_factor=4, n_workers=10)\n"
            "view")]
        nbformat.write(nb, tmp / "nb" / NOTEBOOK)
        yield base, "asha-lesson-token"


_COUNTERS_JS = """(name) => Array.from(document.querySelectorAll(
  `.asha-lesson g.${name}_counters_values_marks text`)).map(e => e.textContent)"""
_TABLE_JS = """(name) => Object.fromEntries(Array.from(document.querySelectorAll(
  `.asha-final td[data-scheduler='${name}']`)).map(e => [e.dataset.key, e.textContent.trim()]))"""


_IDLE_LABELS_JS = """(name) => Object.fromEntries(['dot', 'word'].map(k => [k,
  Array.from(document.querySelectorAll(k === 'dot'
    ? `.asha-lesson g.${name}_lanes_idledot_marks path`
    : `.asha-lesson g.${name}_lanes_idletext_marks text`))
  .map(e => e.getBoundingClientRect()).map(r => [r.left, r.top, r.right, r.bottom])]))"""


def _counters(page, name: str) -> dict[str, str]:
    texts = page.evaluate(_COUNTERS_JS, name)
    assert len(texts) == len(KEYS), texts
    return dict(zip(KEYS, texts))


def _table(page, name: str) -> dict[str, str]:
    return page.evaluate(_TABLE_JS, name)


def _readout(page) -> float:
    text = page.locator(".asha-lesson .asha-readout").inner_text()
    m = re.match(r"t = ([\d.]+) s of ([\d.]+) s", text)
    assert m, text
    return float(m.group(1))


def _horizon_from_table(page) -> str:
    text = page.locator(".asha-final-values").inner_text()
    m = re.search(r"t = ([\d.]+) s", text)
    assert m, text
    return m.group(1)


def _assert_frame_matches_table(page) -> str:
    h = _horizon_from_table(page)
    for name in ("SHA", "ASHA"):
        shown, table = _counters(page, name), _table(page, name)
        assert {k: shown[k] for k in TABLE_KEYS} == {k: table[k] for k in TABLE_KEYS}, name
    clock = page.evaluate("() => document.querySelector("
                          "'.asha-lesson g.clock_readout_marks text').textContent")
    assert clock == f"t = {h} s"
    assert page.locator(".asha-lesson .asha-readout").inner_text() == f"t = {h} s of {h} s"
    return h


def test_promotion_view_in_jupyterlab(lab):
    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}&reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=60_000)
            if page.locator(".jp-Dialog").count():
                page.locator(".jp-Dialog .jp-mod-accept").click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.wait_for_timeout(500)
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            page.wait_for_selector(".asha-promotion .asha-lesson[data-ready] svg", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=60_000)
            page.wait_for_timeout(500)

            # 1. the last frame: the chart's counters are the final values
            assert _assert_frame_matches_table(page) == "73.0"
            assert _counters(page, "SHA")["busy"] == "28%"
            assert _counters(page, "ASHA")["now"] == "10 of 10"
            page.screenshot(path=str(ARTIFACTS / "promotion_final.png"), full_page=True)

            # 2. the README's picture: t = 20 (SHA waits at rung 2, ASHA busy); the frame moves
            #    away from the last one before the slider test below
            page.evaluate("""() => { const s = document.querySelector('.asha-lesson .asha-time');
                s.value = '20'; s.dispatchEvent(new Event('input'));
                s.dispatchEvent(new Event('change')); }""")
            page.wait_for_timeout(600)
            assert _readout(page) == 20.0
            page.locator(".asha-promotion").first.screenshot(
                path=str(ARTIFACTS / "promotion_view.png"))
            # the log's highlighted rows (the frame's latest promotion) are scrolled into view
            seen = page.evaluate("""() => { const box = document.querySelector(
                '.asha-promo-log').getBoundingClientRect();
                return Array.from(document.querySelectorAll('.asha-promo-log tr.asha-log-current'))
                .map(r => r.getBoundingClientRect()).map(r => r.top >= box.top - 1 &&
                r.bottom <= box.bottom + 1); }""")
            assert seen and any(seen), seen
            c20 = _counters(page, "SHA")
            assert c20["barrier"] == "waiting for 4 jobs of rung 2" and c20["now"] == "4 of 10"
            # the short idle gaps of the first barrier (t = 6 to 7) have a dot each, and no
            # "idle" word or dot overlaps another (their boxes as the browser draws them)
            boxes = page.evaluate(_IDLE_LABELS_JS, "SHA")
            assert len(boxes["dot"]) == 6 and len(boxes["word"]) >= 6, boxes
            drawn = boxes["dot"] + boxes["word"]
            for i, a in enumerate(drawn):
                for b in drawn[i + 1:]:
                    assert (a[2] <= b[0] + 0.5 or b[2] <= a[0] + 0.5 or a[3] <= b[1] + 0.5
                            or b[3] <= a[1] + 0.5), (a, b)

            # 3. move the workers slider (10 -> 11) without pressing Play
            ready = page.locator(".asha-lesson").get_attribute("data-ready")
            handle = page.locator(".asha-promotion .widget-slider .noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
            page.wait_for_function(
                "() => !document.querySelector('.asha-final-values').textContent"
                ".includes('t = 73.0 s')", timeout=30_000)
            page.wait_for_function(
                f"() => document.querySelector('.asha-lesson').dataset.ready !== '{ready}'",
                timeout=30_000)
            page.wait_for_timeout(300)
            h = _assert_frame_matches_table(page)
            assert h != "73.0"
            page.screenshot(path=str(ARTIFACTS / "promotion_after_slider.png"), full_page=True)

            # 4. back to t = 0, then Play: the readout and the counters advance
            page.locator(".asha-lesson button.asha-restart").click()
            assert _readout(page) == 0.0
            start = _counters(page, "SHA")
            assert start["jobs"] == "0" and start["busy"] == "\u2013"
            page.locator(".asha-lesson button.asha-play").click()
            page.wait_for_timeout(1200)
            t1, c1 = _readout(page), _counters(page, "ASHA")
            page.wait_for_timeout(1200)
            t2, c2 = _readout(page), _counters(page, "ASHA")
            assert 0 < t1 < t2
            assert 0 < int(c1["jobs"]) < int(c2["jobs"])
            assert "Pause" in page.locator(".asha-lesson button.asha-play").inner_text()
            page.locator(".asha-lesson button.asha-play").click()  # pause
            paused = _readout(page)
            page.wait_for_timeout(600)
            assert _readout(page) == paused
            assert "Play" in page.locator(".asha-lesson button.asha-play").inner_text()

            # 5. step to the next promotion: time moves to it, "last promotion" changes
            before = _counters(page, "SHA")["promotion"], _counters(page, "ASHA")["promotion"]
            page.locator(".asha-lesson button.asha-step").click()
            _wait_rest(page)
            after = _counters(page, "SHA")["promotion"], _counters(page, "ASHA")["promotion"]
            assert _readout(page) > paused and after != before
            assert re.search(r"at t = [\d.]+", after[0] + after[1])
            # it stopped exactly at the next promotion (the view now has 11 workers)
            from asha_nb.widgets import PromotionView

            nxt = PromotionView(n_configs=64, reduction_factor=4,
                                n_workers=11).next_promotion(paused)
            assert _readout(page) == pytest.approx(nxt, abs=0.05)
            assert any(x.endswith(f"at t = {nxt:.1f}") for x in after), (nxt, after)

        except Exception:
            page.screenshot(path=str(ARTIFACTS / "promotion_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not [e for e in errors if "asha" in e.lower() or "vega" in e.lower()], errors
    outside = [u for u in requests
               if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname != "127.0.0.1"]
    assert requests and not outside, outside


def _wait_rest(page) -> None:
    page.wait_for_function("() => document.querySelector('.asha-lesson button.asha-play')"
                           ".textContent.includes('Play')", timeout=30_000)
    page.wait_for_timeout(200)


def _log(page) -> list[tuple[str, bool]]:
    """The promotion log's visible rows: (text, highlighted)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll(
        '.asha-promo-log tr.asha-log-row')).filter(r => r.style.display !== 'none')
        .map(r => [r.innerText.replace(/\\s+/g, ' ').trim(),
                   r.classList.contains('asha-log-current')])""")


def test_standalone_html_plays_offline(tmp_path):
    from asha_nb.widgets import PromotionView

    ARTIFACTS.mkdir(exist_ok=True)
    view = PromotionView(n_configs=16, n_workers=4)
    path = view.save(tmp_path / "lesson.html")
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(path.as_uri())
            page.wait_for_selector(".asha-lesson[data-ready] svg", timeout=30_000)
            _assert_frame_matches_table(page)
            page.locator("button.asha-restart").click()
            page.locator("button.asha-play").click()
            page.wait_for_timeout(1000)
            assert _readout(page) > 0

            # Step from t = 0 stops exactly at each promotion in turn (none skipped), and at
            # rest "last promotion" and the log's highlighted rows name the one stepped to
            page.locator("button.asha-restart").click()
            assert _log(page) == []
            page.select_option("select.asha-speed", "4")
            for want in view.promotion_times[:4]:
                page.locator("button.asha-step").click()
                _wait_rest(page)
                assert _readout(page) == pytest.approx(want, abs=0.05)
                texts = [_counters(page, s)["promotion"] for s in ("SHA", "ASHA")]
                at = [p for p in view.log if p["time"] == want]
                assert any(x.endswith(f"at t = {want:.1f}") for x in texts), (want, texts)
                rows = _log(page)
                assert len(rows) == sum(p["time"] <= want for p in view.log)
                current = [text for text, on in rows if on]
                assert len(current) == len(at)
                assert sorted(re.search(r"#(\d+)", c).group(1) for c in current) == sorted(
                    str(p["trial_id"]) for p in at)
            # a click on a log row moves the frame to that promotion
            page.locator(".asha-promo-log tr.asha-log-row").first.click()
            assert _readout(page) == pytest.approx(view.promotion_times[0], abs=0.05)
            page.screenshot(path=str(ARTIFACTS / "promotion_standalone_step.png"),
                            full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert requests and all(u.startswith("file://") for u in requests), requests
