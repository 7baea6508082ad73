"""Every Python block of the README runs, in order, as a reader would run them in one notebook.

The blocks run in one IPython shell (so ``%asha`` lines work), in a temporary folder (files the
README writes land there), with the README's own budgets. A cell that starts a search in the
background is followed by a wait until each search of the shell has started the trials the next
cells name (``stop_trial(3)``), as a reader's pause before the next cell gives. A block that
raises fails this test with the block and the error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _polling import until
from IPython.core.interactiveshell import InteractiveShell

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _searches(ns: dict, code: str) -> list:
    """The searches this block started: ``name.start(...)`` of a Search, or of a scikit-learn
    tuner (its ``search_``); every running search of the shell for a ``%asha`` line."""
    from asha_nb.runtime import Search

    names = re.findall(r"(\w+)\.start\(", code)
    if names:
        found = [getattr(ns[n], "search_", ns[n]) for n in names if n in ns]
        return [s for s in found if isinstance(s, Search)]
    # the magic started its search before it returned: the ones not left "created"
    return [s for s in ns.values() if isinstance(s, Search) and s.state != "created"]


def _started(ns: dict, code: str, n_trials: int = 4) -> bool:
    """The searches the block started have left "created" and started ``n_trials`` trials each
    (the README's cells stop trial 3), or already ended."""
    searches = _searches(ns, code)
    return bool(searches) and all(
        s.state.is_terminal or (s.state == "running" and s.snapshot().n_started >= n_trials)
        for s in searches)


def test_readme_has_python_blocks():
    assert len(blocks()) >= 10


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    try:
        for i, code in enumerate(blocks()):
            result = shell.run_cell(code, store_history=False)
            if not result.success:
                err = result.error_in_exec or result.error_before_exec
                pytest.fail(f"README block {i} failed with {type(err).__name__}: {err}\n"
                            f"---\n{code}", pytrace=False)
            if ".start(" in code or "%asha " in code:  # a reader looks before the next cell
                assert until(lambda c=code: _started(shell.user_ns, c), 120), (
                    f"block {i}: no trial ran")
    finally:
        from asha_nb.runtime import Search

        # every search of the shell, a scikit-learn tuner's too: none keeps running (and
        # sending dashboard messages) into the next test
        for value in [getattr(v, "search_", v) for v in list(shell.user_ns.values())]:
            if isinstance(value, Search):
                if not value.state.is_terminal:
                    try:
                        value.stop()
                    except Exception:  # best effort: the search may have ended meanwhile
                        pass
                if hasattr(value, "dashboard"):  # its last update goes to this shell
                    value.dashboard().close()
        InteractiveShell.clear_instance()
