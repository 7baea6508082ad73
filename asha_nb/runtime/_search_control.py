"""Control calls of a :class:`~asha_nb.runtime.Search`, applied on the right thread.

Before the loop runs (or on the thread driving it) a call is applied at once; otherwise it is
posted to the loop and the caller waits for its result. Scheduled calls
(``search.at(t).pause()``) wait in the loop's time-ordered heap.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping
from typing import Any

from ..errors import SearchStateError
from ._commands import apply
from ._loop import Loop
from ._requests import Command, Request, check_args

__all__ = ["control", "schedule"]


def control(loop: Loop, direct: bool, command: Command, args: Mapping[str, Any]) -> Any:
    """Apply ``command`` now (``direct``: on this thread) and return its result."""
    args = check_args(command, args)
    with loop.lock:
        state = loop.state
        if state.is_terminal:
            raise SearchStateError(
                f"cannot {command}: the search is {state}; control calls need a created, "
                "running or paused search")
        req = Request(command, args)
        if direct:
            apply(loop, req)
            loop.snaps.refresh(force=True)
        else:
            loop.post(req)
    return req.future.result(timeout=None if direct else 120)


def schedule(loop: Loop, direct: bool, command: Command, args: Mapping[str, Any],
             at: float) -> cf.Future[Any]:
    """Apply ``command`` when the search's clock reaches ``at``; its future gives the result."""
    args = check_args(command, args)
    with loop.lock:
        if loop.state.is_terminal:
            raise SearchStateError(
                f"cannot schedule {command}: the search is {loop.state}")
        req = Request(command, args, at=at)
        if direct:
            loop.schedule(req)
        else:
            loop.post(req)
    return req.future
