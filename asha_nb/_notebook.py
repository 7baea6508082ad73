"""``asha_nb.Search``: the runtime's :class:`~asha_nb.runtime.Search` that shows itself as its
live dashboard in a notebook.

The runtime layer knows nothing of widgets (the layer order of the design: the runtime sits
below the views). This top-level subclass adds the two display hooks: :meth:`Search.dashboard`
and IPython's ``_repr_mimebundle_``, so the last expression of a cell, ``search``, shows the
live dashboard (a static HTML summary where no widget front end exists).
"""

from __future__ import annotations

from typing import Any

from .runtime import search as _runtime_search

__all__ = ["Search"]


class Search(_runtime_search.Search):
    __doc__ = (_runtime_search.Search.__doc__ or "") + """
    Notes
    -----
    In a notebook, a ``Search`` that is the last expression of a cell shows its live dashboard
    (:meth:`dashboard`; needs the ``widgets`` extra: ``pip install "asha_nb[widgets]"``).
    """

    def dashboard(self, **kwargs: Any) -> Any:
        """The live dashboard of this search (an ipywidgets view, created once).

        Needs the ``widgets`` extra (``pip install "asha_nb[widgets]"``). Displaying a search in
        a notebook (last expression of a cell) shows the same dashboard; where no widget front
        end exists (nbconvert, a terminal) a static HTML summary is shown instead.
        """
        from .widgets import Dashboard

        if self._dashboard is None:
            self._dashboard = Dashboard(self, **kwargs)
        return self._dashboard

    def _ipython_display_(self) -> None:
        """IPython's display hook: the live dashboard, under a display id, so that it is
        replaced by a static snapshot when the search ends."""
        try:
            view = self.dashboard()
        except ImportError:  # the widgets extra is not installed
            from IPython.display import display

            display({"text/plain": repr(self)}, raw=True)
            return
        view._ipython_display_()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            view = self.dashboard()
        except ImportError:  # the widgets extra is not installed
            return {"text/plain": repr(self)}
        bundle: dict[str, Any] = view._repr_mimebundle_(include=include, exclude=exclude)
        return bundle
