"""The Binder configuration provides everything the notebooks import, and postBuild is sane."""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# import name -> distribution name, where they differ
IMPORT_TO_DIST = {
    "sklearn": "scikit-learn",
    "vl_convert": "vl-convert-python",
    "distributed": "dask",          # dask[distributed]
    "IPython": "ipython",
    "yaml": "pyyaml",
    "PIL": "pillow",
}
# Distributions that come with ones listed (jupyterlab / ipykernel bring IPython and its kin).
IMPLIED = {"ipython": ("ipykernel", "jupyterlab"), "jaxlib": ("jax",)}
# Modules a notebook writes itself at run time (08_resume writes experiment.py).
NOTEBOOK_LOCAL = {"experiment"}


def _dist_name(req: str) -> str | None:
    req = req.split("#", 1)[0].strip()
    if not req or req.startswith("-"):
        return None
    name = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0]
    return _norm(name)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _binder_dists() -> set[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return {d for d in map(_dist_name, lines) if d}


def _package_dists() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {d for d in map(_dist_name, meta.get("dependencies", [])) if d}


def _cell_source(src: str) -> str:
    """Python of a code cell: drop %%cell magics entirely, %line magics and !shell lines."""
    if src.lstrip().startswith("%%"):
        return ""
    out = []
    for line in src.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append("")
        elif re.match(r"^\s*\w+\s*=\s*%", line):  # x = %asha add ...
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def notebook_imports(path: Path) -> set[str]:
    nb = json.loads(path.read_text())
    mods: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = _cell_source("".join(cell["source"]))
        tree = compile(src, f"{path.name}", "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return mods


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 8, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_are_provided_by_binder(path):
    provided = _binder_dists() | _package_dists()
    missing = []
    for mod in sorted(notebook_imports(path)):
        if mod in sys.stdlib_module_names or mod in NOTEBOOK_LOCAL or mod == "asha_nb":
            continue
        dist = _norm(IMPORT_TO_DIST.get(mod, mod))
        if dist in provided or any(p in provided for p in IMPLIED.get(dist, ())):
            continue
        missing.append(f"{mod} (distribution {dist})")
    assert not missing, f"{path.name} imports modules binder/requirements.txt does not provide: {missing}"


def test_import_scan_sees_imports():
    # The scanner itself: it must find imports in plain, magic and await cells.
    mods = notebook_imports(ROOT / "notebooks" / "03_iris.ipynb")
    assert {"sklearn", "asha_nb", "pandas"} <= mods


def test_requirements_pin_torch_and_list_the_widgets_stack():
    dists = _binder_dists()
    for need in ("jupyterlab", "ipywidgets", "anywidget", "altair", "vl-convert-python",
                 "scikit-learn", "dask", "jax", "torch"):
        assert need in dists, need
    text = (BINDER / "requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0\s*$", text, re.M), "torch must be pinned to 2.13.0"


def test_postbuild_is_executable_bash_with_set_e_and_installs_the_package():
    post = BINDER / "postBuild"
    mode = post.stat().st_mode
    assert mode & stat.S_IXUSR, "binder/postBuild must be executable"
    lines = post.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    code = [ln.strip() for ln in lines[1:] if ln.strip() and not ln.strip().startswith("#")]
    assert code[0] == "set -e", "set -e must come before any command"
    assert any(re.search(r"pip install .*-e \.", ln) for ln in code)


def test_runtime_is_python_311():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_no_root_level_binder_config_is_shadowed():
    # With a binder/ folder, repo2docker ignores root-level config; having both is a trap.
    for name in ("requirements.txt", "environment.yml", "postBuild", "runtime.txt", "apt.txt"):
        assert not (ROOT / name).exists(), f"{name} in the repository root is ignored by repo2docker"
    assert not (ROOT / ".binder").exists()
    assert os.path.isdir(BINDER)
