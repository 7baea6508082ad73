"""The control calls of a :class:`~asha_nb.runtime.Search` (a mixin of the facade).

Every call becomes a :class:`~asha_nb.runtime._commands.Request`: applied at once before the
loop starts or from the thread that drives it, posted to the loop otherwise, or kept until the
search's clock reaches a time (``search.at(t)``).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._validation import check_number
from ..errors import SearchStateError
from ._commands import apply
from ._options import ScheduledControls
from ._requests import Command, Request, check_args

if TYPE_CHECKING:  # pragma: no cover
    from ._loop import Loop

__all__ = ["SearchControl"]


class SearchControl:
    """Mixin of :class:`~asha_nb.runtime.Search`: its control calls."""

    if TYPE_CHECKING:  # set by Search
        _loop: Loop
        _thread: threading.Thread | None

    def _control(self, command: Command, args: Mapping[str, Any]) -> Any:
        args = check_args(command, args)
        loop = self._loop
        with loop.lock:
            state = loop.state
            if state.is_terminal:
                raise SearchStateError(
                    f"cannot {command}: the search is {state}; control calls need a created, "
                    "running or paused search")
            direct = (self._thread is None or threading.current_thread() is self._thread
                      or loop.is_driving())
            req = Request(command, args)
            if direct:
                apply(loop, req)
                loop.snaps.refresh(force=True)
            else:
                loop.post(req)
        return req.future.result(timeout=None if direct else 120)

    def _schedule(self, command: Command, args: Mapping[str, Any], at: float) -> cf.Future[Any]:
        args = check_args(command, args)
        loop = self._loop
        with loop.lock:
            if loop.state.is_terminal:
                raise SearchStateError(
                    f"cannot schedule {command}: the search is {loop.state}")
            req = Request(command, args, at=at)
            if (self._thread is None or threading.current_thread() is self._thread
                    or loop.is_driving()):
                loop.schedule(req)
            else:
                loop.post(req)
        return req.future

    def at(self, time: float) -> ScheduledControls:
        """Control calls applied when the search's clock reaches ``time`` (seconds since start).

        Works in real time and in virtual time (there it is how a simulated search is steered,
        exactly and reproducibly). A call scheduled after the search ended fails with
        :class:`~asha_nb.errors.SearchStateError` in its future.

        Examples
        --------
        >>> from asha_nb import space
        >>> from asha_nb.executors import SimulatedExecutor
        >>> from asha_nb.runtime import Search
        >>> s = Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_resource=9,
        ...            n_workers=2, seed=0, executor=SimulatedExecutor(cost=1.0), progress=False)
        >>> trial = s.at(3.0).add_trial({"x": 0.99})
        >>> _ = s.at(40.0).stop()
        >>> str(s.run().state), trial.result()
        ('stopped', 5)
        """
        check_number("time", time, low=0)
        return ScheduledControls(self, float(time))

    def stop_trial(self, trial_id: int) -> None:
        """Stop a trial: it is never promoted, and its running job is stopped (killed where the
        executor can, cooperatively via ``trial.should_stop()`` otherwise)."""
        self._control(Command.STOP_TRIAL, {"trial_id": trial_id})

    def add_trial(self, config: Mapping[str, Any], *, check: bool = True) -> int:
        """Add a configuration (missing keys are sampled); returns its trial id.

        Values outside their domain are refused unless ``check=False``.
        """
        return int(self._control(Command.ADD_TRIAL, {"config": config, "check": check}))

    def pause(self) -> None:
        """Hand out no new jobs; running ones finish."""
        self._control(Command.PAUSE, {})

    def resume(self) -> None:
        """Hand out jobs again after :meth:`pause` (to continue a journaled search after a
        crash, use :meth:`Search.from_journal`)."""
        self._control(Command.RESUME, {})

    def set_n_workers(self, n_workers: int) -> None:
        """Change the number of jobs kept in flight."""
        self._control(Command.SET_N_WORKERS, {"n_workers": n_workers})
