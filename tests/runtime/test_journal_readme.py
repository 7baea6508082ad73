"""The README's "Journal and resume" section runs as written, and names what exists."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import asha_nb
from asha_nb import space
from asha_nb.runtime import Journal, Search
from asha_nb.runtime import journal as journal_module

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n### {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def quick_objective(config, resource):  # the Quickstart's objective, without its sleep
    return 1 - (config["lr"] - 0.1) ** 2 - 1 / resource


def test_the_journal_section_runs_as_written(tmp_path, monkeypatch):
    section = _section("Journal and resume")
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    ns = {"asha_nb": asha_nb, "space": space, "objective": quick_objective}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # our own README
    search = ns["search"]
    assert search.state == "finished"
    assert search.journal_path == "runs/exp1.sqlite"
    assert len({r.trial_id for r in search.records()}) == 60
    with Journal.read(tmp_path / "runs" / "exp1.sqlite") as j:
        assert any(row.kind == "report" for row in j.rows())


def test_the_journal_section_names_what_exists():
    section = _section("Journal and resume")
    for name in ("JournalLockedError", "JournalError", "JournalMismatchError"):
        assert name in section and hasattr(journal_module, name)
    assert "allow_other_objective=True" in section
    assert "allow_other_objective" in inspect.signature(Search.from_journal).parameters
    assert "Journal.read(path).rows()" in section and callable(Journal.read)
    assert issubclass(journal_module.JournalError, ValueError)
