"""Candidates of a ``param_distributions`` made of lists only, drawn without replacement.

scikit-learn's ``RandomizedSearchCV`` and ``HalvingRandomSearchCV`` (their
``ParameterSampler``) sample a grid of lists without replacement: every candidate is a
different combination, and asking for more candidates than the grid holds runs the grid once
(with a warning). :class:`GridSpace` gives :class:`~asha_nb.sklearn.ASHASearchCV`'s search the
same candidates rule: it is the search space (its domains check ``add_trial``'s values and
fill in missing ones as before), whose :meth:`~GridSpace.sample` draws the next combination
not drawn yet, using only the scheduler's generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..space import Choice, Space, _Fixed
from ._objective import GRID_KEY

__all__ = ["GridSpace", "domain_options", "grid_space"]

#: Grids up to this size keep the list of combinations not drawn yet; larger ones redraw.
_LIST_LIMIT = 100_000


def domain_options(domain: Any) -> list[Any] | None:
    if isinstance(domain, Choice):
        return [v.item() if isinstance(v, np.generic) else v for v in domain.options]
    if isinstance(domain, _Fixed):
        return [domain.value]
    return None  # a distribution: not a grid


class GridSpace(Space):
    """A search space whose candidates are the combinations of a grid, without replacement.

    Parameters
    ----------
    space
        The search space (``{name: domain}``, as ``search_space`` builds it).
    blocks
        The grid: one ``(fixed, names, options)`` per dict of ``param_distributions``;
        ``fixed`` holds the keys set by choosing the dict (``{"_grid": i}``), ``names`` the
        space keys of the dict and ``options`` their lists of values.
    """

    def __init__(self, space: Mapping[str, Any],
                 blocks: list[tuple[dict[str, Any], list[str], list[list[Any]]]]) -> None:
        super().__init__(space)
        self._blocks = blocks
        self._sizes = [math.prod(len(o) for o in opts) for _, _, opts in blocks]
        self.size = sum(self._sizes)
        self._left: list[int] | None = (list(range(self.size)) if self.size <= _LIST_LIMIT
                                        else None)
        self._drawn: set[int] = set()

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """The next combination not drawn yet (missing keys sampled from their domains); once
        the grid is exhausted, a combination drawn with replacement."""
        index = self._next(rng)
        given = self._combination(index) if index is not None else {}
        return {name: given[name] if name in given else dom.sample(rng)
                for name, dom in self._items}

    def _next(self, rng: np.random.Generator) -> int | None:
        if self._left is not None:
            if not self._left:
                return None
            return self._left.pop(int(rng.integers(len(self._left))))
        if len(self._drawn) >= self.size:  # pragma: no cover - a grid this large never ends
            return None
        while True:
            index = int(rng.integers(self.size))
            if index not in self._drawn:
                self._drawn.add(index)
                return index

    def _combination(self, index: int) -> dict[str, Any]:
        for (fixed, names, options), size in zip(self._blocks, self._sizes):
            if index >= size:
                index -= size
                continue
            out = dict(fixed)
            for name, opts in zip(reversed(names), reversed(options)):
                index, k = divmod(index, len(opts))
                out[name] = opts[k]
            return out
        raise IndexError(index)  # pragma: no cover - index < size


def grid_space(space: Mapping[str, Any], n_grids: int) -> GridSpace | None:
    """A :class:`GridSpace` of ``space`` (``search_space``'s) when every parameter of every
    dict of ``param_distributions`` is a list (or a fixed value), else ``None``."""
    plain = Space(space)
    blocks = []
    for i in range(n_grids):
        prefix = f"{i}:" if n_grids > 1 else ""
        names = [k for k in plain if k != GRID_KEY and k.startswith(prefix)]
        options = [domain_options(plain[k]) for k in names]
        if any(o is None for o in options):
            return None
        fixed = {GRID_KEY: i} if n_grids > 1 else {}
        blocks.append((fixed, names, [o for o in options if o is not None]))
    return GridSpace(space, blocks)
