"""The event bus of a search: its subscribers, and whether anyone listens."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["EventBus"]

logger = logging.getLogger("asha_nb.runtime")


class EventBus:
    """Subscribers of a search's events. ``publish`` runs on the thread driving the loop;
    ``subscribe`` may be called from any thread.

    Examples
    --------
    >>> bus, seen = EventBus(), []
    >>> stop = bus.subscribe(seen.append)
    >>> bus.publish("e"); stop(); bus.publish("f")
    >>> seen, bus.listening
    (['e'], False)
    """

    def __init__(self) -> None:
        self.subscribers: list[Callable[[Any], None]] = []
        #: Whether anyone listens (events are only built for listeners).
        self.listening = False
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event; returns an unsubscriber."""
        with self._lock:
            self.subscribers = [*self.subscribers, callback]
            self.listening = True

        def unsubscribe() -> None:
            with self._lock:
                self.subscribers = [c for c in self.subscribers if c is not callback]
                self.listening = bool(self.subscribers)

        return unsubscribe

    def publish(self, event: Any) -> None:
        """Hand ``event`` to every subscriber (one that raises is logged, not fatal)."""
        for cb in self.subscribers:
            try:
                cb(event)
            except Exception:
                logger.exception("asha_nb: subscriber %r raised on %r", cb, event)

    def publish_all(self, events: Iterable[Any]) -> None:
        """Publish each of ``events`` if anyone listens."""
        if self.listening:
            for ev in events:
                self.publish(ev)
