"""How a search's loop runs: on the caller's thread or its own, until its end.

:class:`Session` owns what :class:`~asha_nb.runtime.Search` needs to run its loop: the loop's
thread (or none), whether a virtual search is being stepped with ``run(until=...)``, the
future its waiters block on, and the set of live searches that are stopped quietly at
interpreter exit (and forgotten in a forked child).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from .._validation import check_number
from ..clock import WallClock
from ..errors import InvalidParameterError, SearchStateError, SearchStateWarning
from ._drivers import drive
from ._loop import Loop, LoopMode
from ._requests import Command, Request
from .events import SearchState

__all__ = ["Session"]

logger = logging.getLogger("asha_nb.runtime")

_LIVE: weakref.WeakSet[Session] = weakref.WeakSet()
_EXIT_HOOKED = False


def _end_live_searches() -> None:
    """At interpreter exit: end running searches quietly (before thread pools refuse work)."""
    for s in list(_LIVE):
        s.end_at_exit()


def _forget_live_searches() -> None:
    """In a forked child (a fork-context ``multiprocessing`` pool inside an objective, a
    ``ProcessPoolExecutor`` as executor): the parent's searches are not the child's. Their
    loop threads do not exist there, so the child must not wait for them at its exit."""
    _LIVE.clear()


if hasattr(os, "register_at_fork"):  # not on Windows (no fork there)
    os.register_at_fork(after_in_child=_forget_live_searches)


def _preload_view_modules() -> None:
    """In a notebook kernel, import the dashboard's libraries now, on the calling thread.

    Displaying the search imports altair (and through it narwhals) on the main thread while the
    trials already run. If a trial thread (or Dask's client thread, unpickling a scikit-learn
    checkpoint) imports the same packages at that moment, Python can raise ``_DeadlockError``
    from the import system. Importing them before any background thread starts removes the race.
    """
    import importlib

    for name in ("altair", "ipywidgets", "anywidget"):
        try:
            importlib.import_module(name)
        except ImportError:
            return


class Session:
    """The running of one search's loop (see the module docstring).

    Parameters
    ----------
    loop
        The search's loop.
    owner
        The search (what :attr:`done` resolves to).
    restored
        Whether the loop was rebuilt from a journal (its clock keeps the journal's origin).
    """

    def __init__(self, loop: Loop, owner: Any, *, restored: bool) -> None:
        self.loop = loop
        self.owner = owner
        self.restored = restored
        self.thread: threading.Thread | None = None
        self.stepping = False  # a virtual search between two run(until=...) calls
        self.done: cf.Future[Any] = cf.Future()

    def direct(self) -> bool:
        """Whether the calling thread may act on the loop itself (no loop thread runs, or it
        is that thread, or it drives the loop right now)."""
        return (self.thread is None or threading.current_thread() is self.thread
                or self.loop.is_driving())

    def check_startable(self, what: str) -> None:
        loop = self.loop
        if self.stepping:
            raise SearchStateError(
                f"cannot {what}: the search is being run step by step with run(until=...); "
                "call run() to run it to the end")
        state = loop.state
        if state is SearchState.STOPPED and self.thread is None:
            raise SearchStateError(
                f"cannot {what}: the search was stopped before it started; build a new "
                "Search (or Search.from_journal to continue a journaled one)")
        if state.is_terminal:
            raise SearchStateError(
                f"cannot {what}: the search already ran and is {state} "
                f"({loop.reason or 'no reason recorded'}); build a new Search, or "
                "Search.from_journal(journal, objective) to continue a journaled one")
        if self.thread is not None:
            raise SearchStateError(
                f"cannot {what}: the search is already running (start() was called; it is "
                f"{'starting' if state is SearchState.CREATED else state}); use wait() (or "
                "await search) to wait for its end, or run() to wait with a progress bar")

    def _begin(self) -> None:
        loop = self.loop
        if not self.restored and isinstance(loop.clock, WallClock):
            loop.clock.origin = time.time()  # the timeline starts when the search starts
            if loop.journal is not None:
                loop.journal.set_origin(loop.clock.origin)
        _LIVE.add(self)
        global _EXIT_HOOKED
        if not _EXIT_HOOKED:
            _EXIT_HOOKED = True
            # Runs before concurrent.futures refuses new work at interpreter exit.
            threading._register_atexit(_end_live_searches)  # type: ignore[attr-defined]

    def _ended(self) -> None:
        _LIVE.discard(self)
        if not self.done.done():
            self.done.set_result(self.owner)

    def start(self) -> None:
        """Run the loop on a thread of its own."""
        self.check_startable("start")
        if "ipykernel" in sys.modules:
            _preload_view_modules()  # before the clock starts: it takes a second
        self._begin()
        loop = self.loop
        if loop.virtual:
            loop.run_mode = LoopMode.VIRTUAL_BACKGROUND
        self.thread = threading.Thread(target=self._run_thread, name="asha_nb-search",
                                       daemon=True)
        self.thread.start()

    def _run_thread(self) -> None:
        try:
            drive(self.loop)
        finally:
            self._ended()

    def run(self, until: float | None, progress_bar: Callable[[], Any] | None,
            on_interrupt: Callable[[], None]) -> None:
        """Run to the end, or in virtual time until ``until`` (see ``Search.run``)."""
        loop = self.loop
        if loop.state.is_terminal and not self.stepping:
            how = ("stopped before it started" if self.thread is None
                   else f"{loop.state}: {loop.reason or 'no reason recorded'}")
            warnings.warn(
                f"run(): the search already ended ({how}); it is returned unchanged. Build a "
                "new Search, or Search.from_journal(journal, objective) to continue a "
                "journaled one", SearchStateWarning, stacklevel=3)
            self.raise_loop_error()
            return
        if until is not None:
            check_number("until", until, low=0)
            if not loop.virtual:
                raise InvalidParameterError(
                    "until= needs a search in virtual time (executor=SimulatedExecutor(...)); "
                    "a real search runs to its end, or use time_budget=")
        if loop.virtual and (self.thread is None or self.stepping):
            self._step(until)
        else:
            self._wait_with_bar(progress_bar, on_interrupt)
        self.raise_loop_error()

    def _step(self, until: float | None) -> None:
        loop = self.loop
        if not self.stepping:
            self.check_startable("run")
            self._begin()
        self.stepping = True
        loop.store.shared = False  # no reader can look while it runs on this thread
        try:
            ended = drive(loop, until)
        finally:
            loop.store.shared = True
        if ended:
            self.stepping = False
            self.thread = threading.current_thread()
            self._ended()

    def _wait_with_bar(self, progress_bar: Callable[[], Any] | None,
                       on_interrupt: Callable[[], None]) -> None:
        bar = None if progress_bar is None else progress_bar()
        try:
            if self.thread is None:
                self.start()
            try:
                while not self.wait(0.2):
                    if bar is not None:
                        bar.update()
            except KeyboardInterrupt:
                if not self.loop.state.is_terminal:
                    on_interrupt()
                raise
        finally:
            if bar is not None:
                bar.close()

    def raise_loop_error(self) -> None:
        """Raise the loop's own crash, if it crashed."""
        error = self.loop.error
        if error is not None:
            raise SearchStateError(f"the search loop failed: {error!r}") from error

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends or ``timeout`` seconds pass; return whether it ended."""
        if self.thread is None:
            return self.loop.state.is_terminal
        try:
            self.done.result(timeout)
        except cf.TimeoutError:
            return False
        return True

    def stop(self, control: Callable[[Command, dict[str, Any]], Any]) -> None:
        """Stop the search (``control``: how the search applies a command)."""
        loop = self.loop
        if self.thread is None:
            with loop.lock:
                if loop.state.is_terminal:
                    return
                reason = "stop()" if self.stepping else "stop() before start"
                loop.request_end(reason, stopped=True)
                loop.finish(SearchState.STOPPED, reason)
            self.stepping = False
            if not self.done.done():
                self.done.set_result(self.owner)
            return
        try:
            control(Command.STOP, {})
        except SearchStateError:
            if not loop.state.is_terminal:
                raise
            return  # it ended on its own first: nothing to stop
        self.wait(60)

    def end_at_exit(self) -> None:
        loop = self.loop
        if loop.state.is_terminal or self.thread is None:
            return
        loop.post(Request(Command.STOP, {}))
        try:
            self.done.result(timeout=5)
        except cf.TimeoutError:
            logger.warning("asha_nb: a search was still running at interpreter exit")
