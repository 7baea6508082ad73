"""The one bounded wait of the test suite (``pythonpath = ["tests"]`` in pyproject.toml)."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(cond: Callable[[], object], timeout: float = 30.0, every: float = 0.01) -> bool:
    """Poll ``cond()`` until it is true or ``timeout`` seconds have passed; return whether it
    became true (check it: ``assert until(...)``). For conditions of work running on other
    threads or processes; a timed assert it is not."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return bool(cond())
        time.sleep(every)
    return True
