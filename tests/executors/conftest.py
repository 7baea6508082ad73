"""Fixtures of the executor tests: started executors, reused within a module."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asha_nb.executors import BaseExecutor


class ExecutorFactory:
    """Builds and caches started executors per (backend, key); shuts all down at the end."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str], BaseExecutor] = {}
        self._pools: list[cf.Executor] = []
        self._cluster: Any = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from distributed import Client, LocalCluster

            self._cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self._client = Client(self._cluster)
        return self._client

    def new(self, backend: str) -> BaseExecutor:
        """A fresh, not yet started executor of ``backend``."""
        from asha_nb.executors import (
            DaskExecutor,
            GenericExecutor,
            ProcessExecutor,
            ThreadExecutor,
        )

        if backend == "thread":
            return ThreadExecutor()
        if backend == "process":
            return ProcessExecutor()
        if backend == "dask":
            return DaskExecutor(self.client)
        if backend == "generic-thread":
            pool: cf.Executor = cf.ThreadPoolExecutor(2)
        elif backend == "generic-process":
            pool = cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
        else:  # pragma: no cover
            raise ValueError(backend)
        self._pools.append(pool)
        return GenericExecutor(pool)

    def get(self, backend: str, key: str, objective: Callable[..., Any]) -> BaseExecutor:
        """The started executor of ``backend`` running ``objective`` (cached by ``key``)."""
        ex = self._started.get((backend, key))
        if ex is None:
            ex = self.new(backend)
            ex.start(objective, 2)
            self._started[(backend, key)] = ex
        return ex

    def close(self) -> None:
        for ex in self._started.values():
            ex.shutdown(wait=True)
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()
            self._cluster.close()


@pytest.fixture(scope="module")
def executors() -> Iterator[ExecutorFactory]:
    factory = ExecutorFactory()
    yield factory
    factory.close()
