"""The display protocol of a live view in a notebook: one output under a display id, shown live
while the search runs and replaced by a static snapshot when it ends (a saved notebook reopened,
an untrusted one, nbconvert/nbviewer show the snapshot instead of "model not found")."""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["DisplaySlot", "live_fallback_html"]

_NOTE = ("<p><i>Live asha_nb dashboard: it needs a running kernel. The notebook keeps a "
         "static snapshot with the charts once the search has ended.</i></p>")


def live_fallback_html(status: str) -> str:
    """The ``text/html`` of a live bundle, for front ends without widgets: the status and
    tables, no charts (rendering charts there would hold up the running search)."""
    return f"<div class='asha-dashboard-static'>{status}{_NOTE}</div>"


class DisplaySlot:
    """The outputs that show one view: a display id, and whether it has been shown.

    Parameters
    ----------
    prefix
        Start of the display id (a random hex suffix makes it unique).
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.display_id: str | None = None
        #: Whether the view has been displayed under the id (its outputs can be replaced).
        self.shown = False

    def show(self, bundle: dict[str, Any]) -> None:
        """Display ``bundle`` (a raw MIME bundle) in a new output under the view's id."""
        from IPython.display import display

        if self.display_id is None:
            self.display_id = f"{self.prefix}-{uuid.uuid4().hex}"
        display(bundle, raw=True, display_id=self.display_id)  # type: ignore[no-untyped-call]

    def replace(self, bundle: dict[str, Any]) -> bool:
        """Replace every output shown under the id by ``bundle``; whether it did (``False``:
        never displayed, or the shell that showed it is gone and IPython would print it).

        Raises whatever IPython raises (the caller keeps the live view and says why).
        """
        if self.display_id is None:
            return False
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import update_display

        if not InteractiveShell.initialized():
            return False
        update_display(bundle, raw=True,  # type: ignore[no-untyped-call]
                       display_id=self.display_id)
        return True
