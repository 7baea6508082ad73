"""The progress bar follows the scheduler: it never counts past its total (issue 10 item 15)."""

from __future__ import annotations

from _virtual import vsearch

from asha_nb import SHA, space
from asha_nb.runtime.progress import ProgressBar


def _walk(search, step):
    bar = ProgressBar(search, disable=True)
    seen = []
    t = 0.0
    while not search.state.is_terminal:
        t += step
        search.run(until=t)
        bar.update()
        seen.append((bar.done, bar.total))
    bar.close()
    return bar, seen


def test_asha_bar_total_grows_with_extra_promotions_and_ends_exact():
    s = vsearch(max_trials=40, max_resource=27, n_workers=3, seed=2, stragglers=0.3)
    bar, seen = _walk(s, 2.0)
    assert all(total is None or done <= total for done, total in seen)
    n = len(s.results())
    assert bar.done == n and bar.total == n
    assert bar.expected == 40 + 13 + 4 + 1


def test_sha_bar_total_is_exact_from_the_start():
    sha = SHA({"x": space.uniform(0, 1)}, n_configs=27, min_resource=1, max_resource=27,
              reduction_factor=3, seed=0)
    s = vsearch(scheduler=sha, n_workers=4)
    bar, seen = _walk(s, 3.0)
    assert bar.expected == 27 + 9 + 3 + 1 == bar.total == bar.done
    assert all(total == 40 for _, total in seen[:-1])


def test_unlimited_search_has_no_total_until_it_ends():
    s = vsearch(max_resource=9, n_workers=2, seed=0)
    s.at(20.0).stop()
    bar, seen = _walk(s, 5.0)
    assert bar.expected is None and all(t is None for _, t in seen[:-1])
    assert bar.total == bar.done == s.snapshot().n_jobs_done
