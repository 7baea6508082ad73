"""The views read a search through one protocol, :class:`asha_nb._view.SearchView`: the real
search satisfies it (at run time and for mypy), and so does the widget tests' fake."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from asha_nb import space
from asha_nb._view import ExecutorView, SchedulerView, SearchView
from asha_nb.runtime import Search

from .conftest import FakeScheduler, FakeSearch

ROOT = Path(__file__).resolve().parents[2]


def _search() -> Search:
    return Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_trials=3,
                  max_resource=1, seed=0, progress=False)


def test_search_and_the_fake_are_search_views():
    s = _search()
    assert isinstance(s, SearchView)
    assert isinstance(s.scheduler, SchedulerView) and isinstance(s.executor, ExecutorView)
    fake = FakeSearch()
    assert isinstance(fake, SearchView)
    assert isinstance(fake.scheduler, SchedulerView) and isinstance(fake.executor, ExecutorView)


def test_an_object_without_the_reading_api_is_not_a_search_view():
    assert not isinstance(object(), SearchView)
    assert not isinstance(type("S", (), {"snapshot": lambda self: None})(), SearchView)
    assert not isinstance(object(), SchedulerView)
    assert isinstance(FakeScheduler({}), SchedulerView)


def test_mypy_accepts_search_and_fake_as_search_views(tmp_path):
    """A static check: mypy (strict, the project's settings) accepts both where a view wants a
    ``SearchView``, and refuses an object that lacks the reading API."""
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "check_views.py"
    snippet.write_text(textwrap.dedent("""
        from asha_nb._view import SearchView
        from asha_nb.runtime import Search
        from asha_nb.widgets.dashboard import Dashboard
        from widgets.conftest import FakeSearch

        def real(s: Search) -> SearchView:
            return s

        def fake(s: FakeSearch) -> Dashboard:
            return Dashboard(s, start_timer=False)

        class Partial:
            def snapshot(self) -> None: ...

        def wrong(s: Partial) -> SearchView:
            return s
        """))
    env = dict(os.environ)
    os.environ["MYPYPATH"] = str(ROOT / "tests")
    try:
        out, err, status = api.run([str(snippet), "--config-file", str(ROOT / "pyproject.toml"),
                                    "--cache-dir", str(tmp_path / "cache"), "--no-incremental",
                                    "--follow-imports", "silent"])
    finally:
        os.environ.clear()
        os.environ.update(env)
    errors = [ln for ln in out.splitlines() if ": error:" in ln]
    # the one error: Partial is no SearchView (it lacks every member but snapshot)
    assert len(errors) == 1, out + err
    assert "check_views.py:17" in errors[0] and '"Partial"' in errors[0], out
