"""Intra-op thread caps: applied while a thread search runs, nested across overlapping searches,
and the original limits restored when the last one ends (OpenBLAS from numpy, and torch)."""

from __future__ import annotations

import numpy  # noqa: F401  (loads OpenBLAS, so threadpoolctl sees a BLAS library)
import pytest
import threadpoolctl
import torch

from asha_nb._threads import ThreadCap, active_cap, intra_op_threads
from asha_nb.executors import JobSpec, ThreadExecutor

#: A baseline no cap would choose (caps below are 1 and 2), set before each test.
BASELINE = 3


def blas_threads() -> list[int]:
    return sorted({lib["num_threads"] for lib in threadpoolctl.threadpool_info()})


@pytest.fixture(autouse=True)
def known_baseline():
    assert any(lib["internal_api"] == "openblas" for lib in threadpoolctl.threadpool_info())
    torch_before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=BASELINE):
        torch.set_num_threads(BASELINE)
        assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE
        yield
        assert active_cap() is None  # no test leaves a cap behind
    torch.set_num_threads(torch_before)


def spec(job_id: int = 0) -> JobSpec:
    return JobSpec(job_id, job_id, {"x": 2.0}, 0, 3, 0)


def test_intra_op_threads():
    assert intra_op_threads(2, cores=2) == 1
    assert intra_op_threads(1, cores=8) == 8
    assert intra_op_threads(3, cores=8) == 2
    assert intra_op_threads(16, cores=2) == 1


def test_thread_executor_caps_while_running_and_restores():
    ex = ThreadExecutor()
    ex.start(lambda config, resource: 0, n_workers=64)
    try:
        assert blas_threads() == [1] and torch.get_num_threads() == 1
        assert ex.submit(spec()).future.result(timeout=10).value == 0
    finally:
        ex.shutdown(wait=True)
    assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE


@pytest.mark.parametrize("first_out", ["a", "b"])
def test_two_overlapping_thread_searches_restore_the_original(first_out):
    # Issue 10 item 6: the second executor used to remember the first one's cap as "the
    # original", so OpenBLAS stayed at 1 thread for the rest of the process.
    a, b = ThreadExecutor(), ThreadExecutor()
    a.start(lambda config, resource: 0, n_workers=64)
    b.start(lambda config, resource: 0, n_workers=64)
    try:
        assert blas_threads() == [1]
        (a if first_out == "a" else b).shutdown(wait=True)
        assert blas_threads() == [1] and torch.get_num_threads() == 1  # the other still runs
    finally:
        a.shutdown(wait=True)
        b.shutdown(wait=True)
    assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE


@pytest.mark.parametrize("order", ["outer-first", "inner-first"])
def test_caps_nest_the_smallest_holds(order):
    outer = ThreadCap(2)
    assert active_cap() == 2 and blas_threads() == [2] and torch.get_num_threads() == 2
    inner = ThreadCap(1)
    assert active_cap() == 1 and blas_threads() == [1] and torch.get_num_threads() == 1
    first, second = (outer, inner) if order == "outer-first" else (inner, outer)
    first.restore()
    left = second.n_threads
    assert active_cap() == left and blas_threads() == [left] and torch.get_num_threads() == left
    second.restore()
    second.restore()  # idempotent
    assert active_cap() is None
    assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE


def test_cap_set_resize_and_context_manager():
    with ThreadCap(1) as cap:
        assert blas_threads() == [1] and cap.active
        cap.set(2)  # e.g. the executor was resized to fewer workers
        assert blas_threads() == [2] and torch.get_num_threads() == 2
        with ThreadCap(1):
            assert blas_threads() == [1]
        assert blas_threads() == [2]
    assert not cap.active
    assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE


def test_thread_executor_resize_updates_its_cap():
    ex = ThreadExecutor()
    ex.start(lambda config, resource: 0, n_workers=64)
    try:
        ex.resize(1)
        expected = intra_op_threads(1)
        assert active_cap() == expected and blas_threads() == [min(expected, BASELINE)]
    finally:
        ex.shutdown(wait=True)
    assert blas_threads() == [BASELINE]


def test_limit_threads_false_leaves_the_limits_alone():
    ex = ThreadExecutor(limit_threads=False)
    ex.start(lambda config, resource: 0, n_workers=64)
    try:
        assert blas_threads() == [BASELINE] and active_cap() is None
    finally:
        ex.shutdown(wait=True)


def test_a_cap_never_raises_a_limit_the_user_set():
    # Issue 15 item 14: a cap above the user's limit used to raise it (torch=2, OpenMP=2 in the
    # trials after torch.set_num_threads(1) / threadpool_limits(1) with n_workers=1).
    with ThreadCap(BASELINE + 2):
        assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE
        with ThreadCap(1):  # a lower cap still lowers
            assert blas_threads() == [1] and torch.get_num_threads() == 1
        assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE
    assert blas_threads() == [BASELINE] and torch.get_num_threads() == BASELINE


def test_trials_of_a_one_worker_thread_search_see_the_users_limit_of_one():
    def seen(config, resource):
        return float(max(blas_threads()) * 100 + torch.get_num_threads())

    with threadpoolctl.threadpool_limits(limits=1):
        torch.set_num_threads(1)
        ex = ThreadExecutor()
        ex.start(seen, n_workers=1)  # its cap would be every core of the machine
        try:
            assert ex.submit(spec()).future.result(timeout=10).value == 101.0
        finally:
            ex.shutdown(wait=True)
        assert blas_threads() == [1] and torch.get_num_threads() == 1
        torch.set_num_threads(BASELINE)
