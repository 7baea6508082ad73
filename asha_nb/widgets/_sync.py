"""The one place through which asha_nb's widgets write to the front end.

Every trait write and custom message of the dashboard and the teaching view goes through
:func:`set_traits` or :func:`send`. Both take one process-wide re-entrant lock, so writes from
the throttle's timer thread, the search loop and the kernel's main thread (button clicks) never
interleave, and :func:`set_traits` batches the traits of one widget into a single comm message
with ``hold_sync()`` and skips values that did not change (no message at all).

:func:`count_messages` wraps ``ipywidgets.Widget._send`` to count what would reach a front end;
the tests and the benchmark use it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["LOCK", "set_traits", "send", "batch", "count_messages", "MessageLog"]

#: Serialises every widget write of asha_nb.
LOCK = threading.RLock()


def set_traits(widget: Any, **values: Any) -> bool:
    """Set traits of ``widget`` in one comm message; unchanged values are skipped.

    Returns
    -------
    bool
        Whether anything changed (and so whether a message was sent).
    """
    with LOCK:
        changed = {k: v for k, v in values.items() if getattr(widget, k) != v}
        if not changed:
            return False
        with widget.hold_sync():
            for k, v in changed.items():
                setattr(widget, k, v)
        return True


def send(widget: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    """Send a custom message to the widget's front-end views."""
    with LOCK:
        widget.send(content, buffers)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Hold the write lock across several :func:`set_traits` / :func:`send` calls."""
    with LOCK:
        yield


class MessageLog:
    """What :func:`count_messages` recorded: one ``(model_id, method, keys, 0)`` per message
    (the last field is reserved; measuring sizes would slow the benchmark down)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, tuple[str, ...], int]] = []
        self.contents: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.messages)


@contextlib.contextmanager
def count_messages(keep_contents: bool = False) -> Iterator[MessageLog]:
    """Count every comm message widgets send while the block runs (any thread).

    Examples
    --------
    >>> import ipywidgets as w
    >>> from asha_nb.widgets._sync import count_messages, set_traits
    >>> s = w.IntSlider()
    >>> with count_messages() as log:
    ...     _ = set_traits(s, value=3, description="x")
    ...     _ = set_traits(s, value=3)
    >>> len(log)
    1
    """
    import ipywidgets

    log = MessageLog()
    original = ipywidgets.Widget._send

    def _send(self: Any, msg: dict[str, Any], buffers: Any = None) -> None:
        method = str(msg.get("method", ""))
        payload = msg.get("state") if method == "update" else msg.get("content")
        keys = tuple(payload) if isinstance(payload, dict) else ()
        log.messages.append((getattr(self, "model_id", ""), method, keys, 0))
        if keep_contents:
            log.contents.append(msg)
        original(self, msg, buffers)

    ipywidgets.Widget._send = _send
    try:
        yield log
    finally:
        ipywidgets.Widget._send = original
