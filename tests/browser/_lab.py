"""A JupyterLab server on 127.0.0.1 for the browser tests, and headless Debian chromium.

Facts from ``shared/notes/jupyter-testing.md``: ``--allow-root`` (we run as root), a fresh
config/runtime/data folder, user settings that start the kernel and silence the news toast, and
Playwright's chromium launched with ``executable_path`` (never ``playwright install``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ASHA_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(settings: Path, *, dark: bool = False, autostart: bool = True) -> None:
    """JupyterLab user settings: no kernel dialog, no news toast, the theme."""
    for rel, content in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"autoStartDefaultKernel": autostart},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings":
            {"theme": "JupyterLab Dark" if dark else "JupyterLab Light"},
    }.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))


@contextlib.contextmanager
def jupyter_lab(prefix: str, token: str) -> Iterator[tuple[str, Path]]:
    """Start JupyterLab on a free port of 127.0.0.1 and yield ``(base URL, folder)``: put
    notebooks in ``folder / "nb"`` (its root) and settings in ``folder / "settings"``. The
    server and the folder are removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    nbdir = tmp / "nb"
    nbdir.mkdir()
    settings = tmp / "settings"
    write_settings(settings)
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_DATA_DIR=str(tmp / "data"),
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
        yield base, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def launch(playwright: object) -> object:
    """Headless Debian chromium through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,  # type: ignore[attr-defined]
                                      args=LAUNCH_ARGS)
