"""Browser end-to-end test: JupyterLab + headless Debian chromium (Playwright).

Starts JupyterLab on 127.0.0.1 with a fresh config, opens ``e2e_dashboard.ipynb``, runs all
cells, and checks in the real browser that the dashboard appears, its trial count grows while
the search runs, its Stop button stops the search, and the promotion view's frame changes
when Play is pressed. Screenshots go to ``artifacts/``. Skipped when chromium, playwright or
jupyterlab is missing. Needs: ``apt-get install chromium``; ``pip install playwright
jupyterlab ipywidgets anywidget altair vl-convert-python`` (never ``playwright install``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NOTEBOOK = "e2e_dashboard.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("ASHA_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

if os.environ.get("CI"):
    # In CI (.ci/run installs everything) a missing piece is a failure, never a silent skip.
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
    import jupyterlab  # noqa: F401
    import playwright.sync_api as sync_api

    assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}: run .ci/install-browser"
else:
    pytest.importorskip("jupyterlab")
    pytest.importorskip("ipywidgets")
    pytest.importorskip("anywidget")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():  # pragma: no cover - environment
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    tmp = Path(tempfile.mkdtemp(prefix="asha-e2e-"))
    nbdir = tmp / "nb"
    nbdir.mkdir()
    shutil.copy(HERE / NOTEBOOK, nbdir / NOTEBOOK)
    settings = tmp / "settings"
    for rel, content in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False},
    }.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))
    port, token = _free_port(), "asha-e2e-token"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={nbdir}", f"--LabApp.workspaces_dir={tmp / 'ws'}",
           f"--LabApp.user_settings_dir={settings}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not become ready in 60 s") from None
                time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _started(page) -> int:
    text = page.locator(".asha-dashboard .asha-started").first.inner_text()
    return int(text.strip())


def _frame_text(page) -> str:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.asha-promotion .asha-vega svg text'))"
        ".map(e => e.textContent || '').filter(s => s.startsWith('t = ')).join(' | ')")


def test_dashboard_and_promotion_view_in_jupyterlab(lab):
    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on("pageerror", lambda e: errors.append(str(e)))
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

            # 1. the dashboard appears and its chart renders (offline vega bundle)
            page.wait_for_selector(".asha-dashboard .asha-started", timeout=60_000)
            page.wait_for_selector(".asha-dashboard .asha-vega svg", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)
            # 2. trial count grows while the search runs (kernel idle, search in background)
            first = _started(page)
            page.wait_for_function(
                f"() => parseInt(document.querySelector('.asha-dashboard .asha-started')"
                f".textContent) > {first}", timeout=30_000)
            page.wait_for_selector(".asha-dashboard .asha-vega svg .mark-rect path",
                                   timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_running.png"), full_page=True)

            # 3. the promotion view animates when Play is pressed
            page.wait_for_selector(".asha-promotion .asha-vega svg", timeout=60_000)
            before = _frame_text(page)
            assert before, "the promotion view shows no counters"
            page.locator(".asha-promotion .widget-play button").first.click()
            page.wait_for_function(
                "(before) => { const t = Array.from(document.querySelectorAll("
                "'.asha-promotion .asha-vega svg text')).map(e => e.textContent)"
                ".filter(s => s.startsWith('t = ')).join(' | '); return t && t !== before; }",
                arg=before, timeout=20_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "e2e_promotion_playing.png"), full_page=True)
            assert _frame_text(page) != before

            # 4. the dashboard's Stop button stops the search
            page.locator(".asha-dashboard button.asha-stop").click()
            page.wait_for_function(
                "() => document.querySelector('.asha-dashboard .asha-state')"
                ".textContent.trim() === 'stopped'", timeout=60_000)
            stopped = _started(page)
            page.wait_for_timeout(1500)
            assert _started(page) == stopped
            page.screenshot(path=str(ARTIFACTS / "e2e_dashboard_stopped.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "e2e_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not [e for e in errors if "asha" in e.lower() or "vega" in e.lower()], errors
