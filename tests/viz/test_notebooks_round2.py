"""Issue 17, item 9 (Binder readers) and the notebook 02 exercise: what the notebooks say and do."""

from __future__ import annotations

import ast
import builtins
import io
import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("0*.ipynb"))


def _nb(name: str):
    path = next(p for p in NOTEBOOKS if p.name.startswith(name))
    return nbformat.read(path, as_version=4)


def _usable_cpus():
    """The ``usable_cpus`` function exactly as notebook 03 defines it."""
    src = next(c.source for c in _nb("03").cells if "def usable_cpus" in c.source)
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "usable_cpus")
    ns: dict = {"os": os}
    exec(compile(ast.Module([fn], []), "03_iris", "exec"), ns)
    return ns["usable_cpus"]


@pytest.mark.parametrize("files, affinity, want", [
    ({"/sys/fs/cgroup/cpu.max": "200000 100000\n"}, 64, 2),       # Binder: 2 CPUs of 64
    ({"/sys/fs/cgroup/cpu.max": "150000 100000\n"}, 64, 1),       # 1.5 CPUs: 1 worker
    ({"/sys/fs/cgroup/cpu.max": "max 100000\n"}, 64, 8),          # no quota: capped at 8
    ({"/sys/fs/cgroup/cpu.max": "max 100000\n"}, 3, 3),           # taskset to 3 CPUs
    ({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "400000\n",           # cgroup v1
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 16, 4),
    ({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 2, 2),
    ({}, 5, 5),                                                    # no cgroup files at all
])
def test_notebook_03_sizes_workers_from_affinity_and_cgroup_quota(monkeypatch, files, affinity,
                                                                   want):
    fn = _usable_cpus()
    real_open = builtins.open

    def fake_open(path, *a, **kw):
        if str(path).startswith("/sys/fs/cgroup"):
            if str(path) not in files:
                raise FileNotFoundError(path)
            return io.StringIO(files[str(path)])
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(affinity)),
                        raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert fn() == want


def test_every_notebook_says_to_shut_its_kernel_down():
    assert len(NOTEBOOKS) >= 9
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "markdown")
        assert "Shut Down Kernel" in first.source, path.name


def test_notebooks_are_committed_without_outputs_or_widget_state():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert "widgets" not in nb.metadata, path.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


def test_notebook_08_removes_its_temporary_folder():
    cells = [c.source for c in _nb("08").cells if c.cell_type == "code"]
    made = next(i for i, s in enumerate(cells) if 'tempfile.mkdtemp(prefix="asha_nb_resume_")' in s)
    removed = [i for i, s in enumerate(cells) if "shutil.rmtree(work)" in s]
    assert removed and removed[0] > made
    # nothing uses the folder after it is removed
    assert not any("work" in s for s in cells[removed[0] + 1:])


def test_notebook_02_asks_the_question_the_view_answers_at_rest():
    text = "\n".join(c.source for c in _nb("02").cells if c.cell_type == "markdown")
    assert "Step to next promotion" in text and "promotion log" in text
    assert "Which trial climbs first in ASHA" in text
