"""Layering rules: the core is pure, and `import asha_nb` loads no optional extra."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

PKG = pathlib.Path(__file__).resolve().parents[1] / "asha_nb"
FORBIDDEN_IN_CORE = {"threading", "time", "asyncio", "random", "concurrent", "multiprocessing",
                     "socket", "sqlite3", "ipywidgets", "altair", "torch", "jax", "dask",
                     "distributed", "pandas", "tqdm", "IPython"}
OPTIONAL = ["ipywidgets", "altair", "torch", "jax", "dask", "distributed", "anywidget", "IPython"]


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def core_files() -> list[pathlib.Path]:
    # The core and the package modules it imports (space, errors, _validation).
    return sorted((PKG / "core").glob("*.py")) + [PKG / "space.py", PKG / "errors.py",
                                                  PKG / "_validation.py"]


def test_core_imports_no_clock_threads_io_or_extras():
    offenders = {str(p.relative_to(PKG)): sorted(imported_modules(p) & FORBIDDEN_IN_CORE)
                 for p in core_files()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"impure imports in the core: {offenders}"


def test_core_relative_imports_stay_in_pure_layers():
    allowed = {"core", "space", "errors", "_validation", ""}
    for p in (PKG / "core").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                target = (node.module or "").split(".")[0]
                if node.level == 1:  # within core/
                    continue
                assert target in allowed, f"{p.name} imports asha_nb.{target}"


def test_purity_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom threading import Thread\n")
    assert imported_modules(bad) & FORBIDDEN_IN_CORE == {"time", "threading"}


def test_import_asha_nb_loads_no_optional_extra():
    code = ("import sys, json, asha_nb, asha_nb.core, asha_nb.simulate, asha_nb.space; "
            f"print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
