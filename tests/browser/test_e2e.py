"""Browser end-to-end tests of the dashboard: JupyterLab + headless Debian chromium (Playwright).

Starts JupyterLab on 127.0.0.1 with a fresh config and checks in the real browser:

* the live dashboard: it appears, its trial count grows, the running-trials list has a Stop
  button per row that stops that trial, Pause shows the pause while the clock keeps counting,
  Stop ends the search;
* when the search ends, the output becomes the static snapshot (HTML + inline SVG); the saved
  notebook holds no widget, and reopened without a kernel it shows the snapshot and no
  "Error displaying widget" (also as an untrusted copy, and exported to HTML as nbviewer does);
* the dark theme gives the charts a dark background and light text (pixels sampled);
* no request leaves 127.0.0.1.

Screenshots go to ``artifacts/``. Needs ``apt-get install chromium`` and the ``notebooks``
extra (never ``playwright install``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import anywidget
import ipywidgets
import jupyterlab
import nbformat
import numpy as np
import playwright.sync_api as sync_api
import pytest
from _lab import CHROMIUM, ROOT, jupyter_lab, launch, write_settings

HERE = Path(__file__).resolve().parent
NOTEBOOK = "e2e_dashboard.ipynb"
ARTIFACTS = ROOT / "artifacts"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Paths of each running server (``base`` URL -> its notebook and settings folders).
LAB_DIRS: dict[str, dict[str, Path]] = {}

if os.environ.get("CI"):
    # In CI (.ci/run installs everything) a missing piece is a failure, never a silent skip.
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
    import jupyterlab  # noqa: F401
    import playwright.sync_api as sync_api

    assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: run .ci/install-browser"
else:
    pytest.importorskip("jupyterlab")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():  # pragma: no cover - environment
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def lab():
    with jupyter_lab("asha-e2e-", "asha-e2e-token") as (base, tmp):
        shutil.copy(HERE / NOTEBOOK, tmp / "nb" / NOTEBOOK)
        LAB_DIRS[base] = {"nb": tmp / "nb", "settings": tmp / "settings", "tmp": tmp}
        try:
            yield base, "asha-e2e-token"
        finally:
            LAB_DIRS.pop(base, None)


def _started(page) -> int:
    text = page.locator(".asha-dashboard .asha-started").first.inner_text()
    return int(text.strip())


def _frame_text(page) -> str:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.asha-promotion .asha-vega svg text'))"
        ".map(e => e.textContent || '').filter(s => s.startsWith('t = ')).join(' | ')")


def _api(base: str, token: str, path: str, method: str = "GET", body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", method=method, data=data,
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
    return json.loads(body) if body else None


def _set_autostart(base: str, token: str, value: bool) -> None:
    """Whether JupyterLab starts a kernel for a notebook by itself (the running server's
    setting: its files are read once)."""
    _api(base, token, "/lab/api/settings/@jupyterlab/notebook-extension:tracker", method="PUT",
         body={"raw": json.dumps({"autoStartDefaultKernel": value})})


def _charts_loaded(page) -> None:
    """The static snapshot's charts are a loaded image (not a broken one)."""
    page.wait_for_function(
        "() => { const i = document.querySelector('.asha-dashboard-static .asha-static-charts"
        " img'); return i && i.complete && i.naturalWidth > 400; }", timeout=30_000)


def _shutdown_kernels(base: str, token: str) -> None:
    """End every session and kernel of the server (a session left alone may start a kernel)."""
    for sess in _api(base, token, "/api/sessions"):
        _api(base, token, f"/api/sessions/{sess['id']}", method="DELETE")
    for k in _api(base, token, "/api/kernels"):
        _api(base, token, f"/api/kernels/{k['id']}", method="DELETE")
    deadline = time.monotonic() + 30
    while _api(base, token, "/api/kernels") and time.monotonic() < deadline:
        time.sleep(0.3)


def _open(page, base: str, token: str, name: str, *, kernel: bool = True) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    if kernel:
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        if page.locator(".jp-Dialog").count():
            page.locator(".jp-Dialog .jp-mod-accept").click()
        return
    # no kernel: the kernel dialog (autostart is off) is answered "No Kernel"
    try:
        page.wait_for_selector(".jp-Dialog", timeout=15_000)
        no = page.locator(".jp-Dialog button", has_text=re.compile("No Kernel"))
        (no if no.count() else page.locator(".jp-Dialog .jp-mod-reject")).first.click()
    except sync_api.TimeoutError:
        pass
    page.wait_for_timeout(1500)


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.wait_for_timeout(500)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _save(page) -> None:
    page.get_by_role("menuitem", name="File", exact=True).click()
    page.wait_for_timeout(500)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Save( Notebook)?$")).first.click()


def _elapsed(page) -> float:
    return float(page.locator(".asha-dashboard .asha-elapsed").first.inner_text())


def _state(page) -> str:
    return page.locator(".asha-dashboard .asha-state").first.inner_text().strip()


def _outside(requests: list[str]) -> list[str]:
    """Requests to anywhere but 127.0.0.1 (or to no host at all: data:, blob:, file:)."""
    bad = []
    for url in requests:
        u = urlparse(url)
        if u.scheme in ("data", "blob", "about", "file", "chrome-extension"):
            continue
        if u.hostname != "127.0.0.1":
            bad.append(url)
    return bad


def _luminance(png: bytes) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)
    return img @ np.array([0.2126, 0.7152, 0.0722])


def test_dashboard_live_then_static_and_reopened_without_a_kernel(lab):
    base, token = lab
    dirs = LAB_DIRS[base]
    write_settings(dirs["settings"])
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    console: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        try:
            _open(page, base, token, NOTEBOOK)
            _run_all(page)

            # 1. the live dashboard appears and its charts render (offline vega bundle)
            page.wait_for_selector(".asha-dashboard .asha-started", timeout=90_000)
            page.wait_for_selector(".asha-dashboard .asha-vega svg", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)
            first = _started(page)
            page.wait_for_function(
                f"() => parseInt(document.querySelector('.asha-dashboard .asha-started')"
                f".textContent) > {first}", timeout=30_000)
            page.wait_for_selector(".asha-dashboard .asha-vega svg .mark-rect path",
                                   timeout=30_000)

            # 2. a running trial's Stop button stops that trial
            row = page.locator(".asha-dashboard .asha-running-row").first
            row.wait_for(timeout=30_000)
            trial = row.get_attribute("data-trial")
            row.locator("button.asha-stop-row").click()
            page.wait_for_function(
                f"() => ((document.querySelector('.asha-dashboard .asha-message') || {{}})"
                f".textContent || '').startsWith('stop of trial {trial} requested')",
                timeout=30_000)

            # 3. Pause: the state says so, the clock keeps counting, the chart shows the pause
            page.locator(".asha-dashboard button.asha-pause").click()
            page.wait_for_function("() => document.querySelector('.asha-dashboard .asha-state')"
                                   ".textContent.trim() === 'paused'", timeout=30_000)
            page.wait_for_selector(".asha-dashboard .asha-paused-for", timeout=10_000)
            e1 = _elapsed(page)
            page.wait_for_timeout(2000)
            e2 = _elapsed(page)
            assert e2 >= e1 + 1.0, (e1, e2)
            assert page.evaluate("() => Array.from(document.querySelectorAll("
                                 "'.asha-dashboard .asha-vega svg text')).some("
                                 "e => e.textContent === 'paused')")
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_paused.png"), full_page=True)
            page.locator(".asha-dashboard button.asha-resume").click()
            page.wait_for_function("() => document.querySelector('.asha-dashboard .asha-state')"
                                   ".textContent.trim() === 'running'", timeout=30_000)
            page.wait_for_timeout(4000)
            page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".asha-dashboard")).first.screenshot(
                path=str(ARTIFACTS / "dashboard.png"))
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_running.png"), full_page=True)

            # 4. Stop: the search ends and the output becomes the static snapshot
            page.locator(".asha-dashboard button.asha-stop").click()
            page.wait_for_selector(".asha-dashboard-static .asha-static-charts img",
                                   timeout=60_000)
            _charts_loaded(page)
            assert page.locator(".asha-dashboard").count() == 0  # no widget any more
            static = page.locator(".asha-dashboard-static").first
            assert static.locator(".asha-state").inner_text().strip() == "stopped"
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_stopped.png"), full_page=True)

            # 5. saved, the notebook holds the snapshot and no widget
            _save(page)
            path = dirs["nb"] / NOTEBOOK
            deadline = time.monotonic() + 30
            while "asha-dashboard-static" not in path.read_text() or \
                    "asha-static-charts" not in path.read_text():
                assert time.monotonic() < deadline, "the saved notebook has no snapshot"
                time.sleep(0.5)
            saved = nbformat.read(path, as_version=4)
            outputs = [o for c in saved.cells for o in c.get("outputs", [])]
            assert outputs and not any(WIDGET_MIME in o.get("data", {}) for o in outputs)
            assert any("data:image/svg+xml;base64," in o.get("data", {}).get("text/html", "")
                       for o in outputs)

            # 6. reopened (JupyterLab starts a fresh kernel for it, which has none of the old
            #    widget models): the snapshot, no widget error
            page.close()
            _shutdown_kernels(base, token)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            _open(page, base, token, NOTEBOOK)
            page.wait_for_selector(".asha-dashboard-static .asha-static-charts img",
                                   timeout=60_000)
            _charts_loaded(page)
            body = page.locator("body").inner_text()
            assert "Error displaying widget" not in body and "model not found" not in body
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_reopened.png"), full_page=True)

            # 7. without any kernel: a copy with no kernelspec (as downloaded from elsewhere:
            #    not signed by this server, so untrusted too), answered "No Kernel"
            page.close()
            _shutdown_kernels(base, token)
            _set_autostart(base, token, False)
            copy = dirs["nb"] / "copy.ipynb"
            nb_copy = nbformat.read(path, as_version=4)
            nb_copy.metadata.pop("kernelspec", None)
            nb_copy.metadata.pop("language_info", None)  # JupyterLab would pick python by it
            nbformat.write(nb_copy, copy)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            _open(page, base, token, copy.name, kernel=False)
            page.wait_for_selector(".asha-dashboard-static .asha-static-charts img",
                                   timeout=60_000)
            _charts_loaded(page)
            assert _api(base, token, "/api/kernels") == []
            body = page.locator("body").inner_text()
            assert "Error displaying widget" not in body and "model not found" not in body
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_no_kernel.png"),
                            full_page=True)

            # 8. exported to HTML (what nbviewer does), opened from disk: no request at all
            subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                            "--output-dir", str(dirs["tmp"]), str(path)], check=True,
                           capture_output=True, timeout=120)
            html_path = dirs["tmp"] / (path.stem + ".html")
            exported = browser.new_page(viewport={"width": 1400, "height": 1400})
            outside: list[str] = []

            def block(route):  # nothing leaves the machine; the snapshot must not need it
                outside.append(route.request.url)
                route.abort()

            exported.route(re.compile(r"^https?://"), block)
            exported.goto(html_path.as_uri())
            exported.wait_for_selector(".asha-dashboard-static .asha-static-charts img",
                                       timeout=30_000)
            _charts_loaded(exported)
            exported.screenshot(path=str(ARTIFACTS / "e2e_dashboard_nbconvert.png"),
                                full_page=True)
            # only nbconvert's own page template asks for scripts (require.js, MathJax)
            assert all(re.search(r"require\.js|mathjax", u, re.I) for u in outside), outside
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "e2e_failure.png"), full_page=True)
            (ARTIFACTS / "e2e_console.txt").write_text("\n".join(console))
            raise
        finally:
            browser.close()
            _set_autostart(base, token, True)
            write_settings(dirs["settings"])
    assert _outside(requests) == [], _outside(requests)[:5]
    assert not [e for e in errors if "asha" in e.lower() or "vega" in e.lower()], errors


DARK_CELLS = [
    """import time
from asha_nb import space
from asha_nb.runtime import Search
from asha_nb.widgets import Dashboard

def objective(config, resource):
    time.sleep(0.01 * resource)
    return config["x"] * resource

search = Search(objective, {"x": space.uniform(0, 1)}, n_workers=3, max_resource=9,
                seed=0, time_budget=8, progress=False)
search.start()
Dashboard(search)""",
]


def test_dark_theme_gives_dark_charts_with_light_text(lab):
    base, token = lab
    dirs = LAB_DIRS[base]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in DARK_CELLS]
    nbformat.write(nb, dirs["nb"] / "dark.ipynb")
    write_settings(dirs["settings"], dark=True)
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.on("request", lambda r: requests.append(r.url))
        try:
            _open(page, base, token, "dark.ipynb")
            assert page.evaluate("() => document.body.dataset.jpThemeLight") == "false"
            _run_all(page)
            page.wait_for_selector(".asha-dashboard .asha-vega svg .mark-rect path",
                                   timeout=90_000)
            page.wait_for_timeout(1500)
            charts = page.locator(".asha-dashboard .asha-vega").first
            lum = _luminance(charts.screenshot(path=str(ARTIFACTS / "e2e_dark_live.png")))
            # mostly dark background, light text and axes on it
            assert float(np.median(lum)) < 80, float(np.median(lum))
            assert float((lum > 170).mean()) > 0.002
            # the static snapshot after the end follows the theme too
            page.wait_for_selector(".asha-dashboard-static .asha-static-charts img",
                                   timeout=60_000)
            _charts_loaded(page)
            snap = page.locator(".asha-dashboard-static .asha-static-charts").first
            lum = _luminance(snap.screenshot(path=str(ARTIFACTS / "e2e_dark_static.png")))
            # an image cannot take the page's colours: transparent, mid-grey text on the dark
            # page (no white block)
            assert float(np.median(lum)) < 80, float(np.median(lum))
            assert float((lum > 110).mean()) > 0.002
            page.screenshot(path=str(ARTIFACTS / "e2e_dark.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "e2e_dark_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
            write_settings(dirs["settings"])
            _shutdown_kernels(base, token)
    assert _outside(requests) == [], _outside(requests)[:5]
