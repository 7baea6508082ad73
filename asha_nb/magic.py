"""The ``%asha`` / ``%%asha`` IPython magic: start and steer a search from notebook cells.

Load it with ``%load_ext asha_nb``. IPython is imported only when this module is imported
(``import asha_nb`` does not import it). See :class:`AshaMagics` (or ``%asha?`` in a notebook)
for the commands. Reading the line (options, words, notebook names, the ``%%asha`` cell) is
:mod:`asha_nb._magic_args`; this module starts the search, steers it and shows it.
"""

from __future__ import annotations

import argparse
import numbers
import time
from typing import Any, cast

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ._magic_args import (
    SUBCOMMANDS,
    compile_cell_objective,
    executor_spec,
    find_space,
    float_arg,
    int_arg,
    looks_like_expression,
    lookup,
    magic_options,
    no_more,
    parse_config,
    parse_line,
    usage_error,
)
from ._view import SearchView
from .runtime import Search

__all__ = ["AshaMagics", "load_ipython_extension", "unload_ipython_extension", "StatusText",
           "compile_cell_objective", "format_status"]


class StatusText(str):
    """A string that displays without quotes (what ``%asha status`` returns)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def format_status(search: SearchView, name: str = "search") -> StatusText:
    """A short multi-line text status of a search (state, workers, trial counts, best, rungs)."""
    snap = search.snapshot()
    lines = [
        f"{name}: {type(search.scheduler).__name__} {search.state}, {snap.elapsed:.1f}s, "
        f"workers {snap.busy_workers}/{snap.n_workers} busy, trials {snap.n_started} started, "
        f"{snap.n_finished} finished, {snap.n_stopped} stopped, {snap.n_failed} failed"
    ]
    if snap.best_trial is not None:
        value = snap.best_value
        vtxt = f"{value:.6g}" if isinstance(value, numbers.Real) else repr(value)
        cfg = ", ".join(f"{k}={_short(v)}" for k, v in (snap.best_config or {}).items())
        lines.append(f"best ({snap.mode}): trial {snap.best_trial} value {vtxt} at resource "
                     f"{_short(snap.best_resource)} | {cfg}")
    else:
        lines.append("best: no result yet")
    if snap.rungs:
        parts = [f"r{row.rung}@{_short(row.resource)}: {row.n_results} results, "
                 f"{row.n_promoted} promoted" for row in snap.rungs]
        lines.append("rungs: " + "; ".join(parts))
    return StatusText("\n".join(lines))


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return repr(v) if isinstance(v, str) else str(v)


@magics_class
class AshaMagics(Magics):
    """The ``%asha`` line magic and ``%%asha`` cell magic."""

    @line_cell_magic
    @magic_options
    def asha(self, line: str, cell: str | None = None) -> Any:
        """Start and steer an ASHA hyperparameter search from notebook cells.

        Start a search in the background (it is stored in the namespace under --name, default
        ``search``, and its dashboard, or a text status, is shown)::

            %load_ext asha_nb
            %asha train space --max-resource 27 --eta 3 --workers 4 --max-trials 40 --seed 0

        ``train`` is ``train(config, resource)`` (or any objective form asha_nb.Search
        accepts) and ``space`` a dict of distributions, both names in the notebook. Without a
        space name (or ``--space NAME``) the space is ``space`` if that is a dict, else the one
        dict of distributions defined in the notebook (after ``from asha_nb import space``,
        ``space`` is the module; the space found is named in the output).

        Steer it from later cells (add ``--name NAME`` for a search not called ``search``)::

            %asha status                 # state, workers, counts, best, rung table
            %asha stop 3                 # stop trial 3
            %asha add lr=0.05 layers=2   # add a configuration (values: Python literals or
                                         # plain strings; missing keys are sampled) -> trial id
            %asha pause
            %asha resume
            %asha workers 4              # change the number of jobs in flight
            %asha results                # pandas DataFrame, one row per trial and rung
            %asha best                   # best result so far (dict)
            %asha wait 60                # block until it ends (or 60 s pass)
            %asha stop                   # stop the whole search

        Cell magic: the cell body is the objective. It sees ``config``, ``resource`` and the
        notebook's names; assign ``value`` or end with an expression (``return`` works too).
        The body is plain Python (no ``%magics`` or ``!shell`` lines; ``config`` is not the
        ``%config`` magic here).
        The space is ``--space NAME`` (default: found as for ``%asha``); trials run on
        threads (``--executor`` picks another)::

            %%asha --max-resource 27 --max-trials 20 --name s
            model = make_model(config["lr"])
            train(model, epochs=int(resource))
            value = accuracy(model)

        A bad option, an unknown subcommand or an unknown name raises a short UsageError.
        """
        # IPython types line_cell_magic as a decorator factory: the method is read untyped
        args = parse_line(cast(Any, self).asha, line)
        ns = self._ns
        words = list(args.words)
        if cell is not None:
            if words:
                raise usage_error(
                    f"%%asha takes options only (the cell body is the objective), got {words!r}")
            space = find_space(ns, args.space)
            objective = compile_cell_objective(cell, ns)
            return self._start(objective, space, args)
        if not words:
            current = ns.get(args.name)
            if isinstance(current, Search):
                return format_status(current, args.name)
            raise usage_error("%asha needs an objective and a space to start a search, or a "
                              "subcommand")
        head, rest = words[0], words[1:]
        if head in SUBCOMMANDS:
            return self._subcommand(head, rest, args)
        if head not in ns and not looks_like_expression(head):
            raise usage_error(
                f"unknown subcommand or name {head!r}: it is not one of "
                f"{', '.join(SUBCOMMANDS)} and not defined in the notebook")
        if len(rest) > 1:
            raise usage_error(f"too many words: expected OBJECTIVE [SPACE], got {words!r}")
        if rest and args.space and args.space != rest[0]:
            raise usage_error(f"two spaces given: {rest[0]!r} and --space {args.space!r}")
        objective = lookup(ns, head, "objective")
        if not callable(objective):
            raise usage_error(f"{head!r} is not callable: the objective must be a function "
                              f"objective(config, resource), got {type(objective).__name__}")
        return self._start(objective, find_space(ns, rest[0] if rest else args.space), args)

    # ------------------------------------------------------------------ helpers
    @property
    def _ns(self) -> dict[str, Any]:
        """The notebook's namespace."""
        shell = self.shell
        if shell is None:  # pragma: no cover - a Magics instance always has its shell
            raise usage_error("%asha runs inside an IPython shell")
        ns: dict[str, Any] = shell.user_ns
        return ns

    def _get_search(self, name: str) -> Search:
        obj = self._ns.get(name)
        if obj is None:
            raise usage_error(f"no search called {name!r}: start one with %asha OBJECTIVE SPACE "
                              f"--name {name}, or pick one with --name")
        if not isinstance(obj, Search):
            raise usage_error(f"{name!r} is not an asha_nb.Search (it is a "
                              f"{type(obj).__name__}); pick the search with --name")
        return obj

    def _start(self, objective: Any, space: Any, args: argparse.Namespace) -> Any:
        from .errors import AshaError

        ns = self._ns
        old = ns.get(args.name)
        if isinstance(old, Search) and old.state in ("running", "paused"):
            raise usage_error(
                f"the search {args.name!r} is still {old.state}: stop it first (%asha stop "
                f"--name {args.name}) or start this one under another --name")
        try:
            search = Search(
                objective, space,
                executor=executor_spec(ns, args.executor), n_workers=args.workers,
                journal=args.journal, max_trials=args.max_trials, time_budget=args.time_budget,
                seed=args.seed, min_resource=args.min_resource, max_resource=args.max_resource,
                reduction_factor=args.eta, mode=args.mode, progress=False,
            )
        except AshaError as exc:
            raise usage_error(f"cannot start the search: {exc}") from None
        view = None
        if not args.text and _has_frontend(self.shell):
            view = _dashboard(search)
        search.start()
        ns[args.name] = search
        deadline = time.monotonic() + 1.0
        while search.state == "created" and time.monotonic() < deadline:
            time.sleep(0.005)
        if view is not None:
            return view
        return format_status(search, args.name)

    def _subcommand(self, cmd: str, rest: list[str], args: argparse.Namespace) -> Any:
        from .errors import AshaError

        search = self._get_search(args.name)
        name = args.name
        try:
            if cmd == "status":
                no_more(cmd, rest)
                return format_status(search, name)
            if cmd == "results":
                no_more(cmd, rest)
                return search.results()
            if cmd == "best":
                no_more(cmd, rest)
                return search.best
            if cmd == "pause":
                no_more(cmd, rest)
                search.pause()
                return format_status(search, name)
            if cmd == "resume":
                no_more(cmd, rest)
                search.resume()
                return format_status(search, name)
            if cmd == "wait":
                if len(rest) > 1:
                    raise usage_error(f"%asha wait takes at most one number (seconds), got {rest!r}")
                search.wait(float_arg(rest[0], "wait SECONDS") if rest else None)
                return format_status(search, name)
            if cmd == "workers":
                if len(rest) != 1:
                    raise usage_error(f"%asha workers takes one integer, got {rest!r}")
                search.set_n_workers(int_arg(rest[0], "workers N"))
                return format_status(search, name)
            if cmd == "stop":
                if not rest:
                    search.stop()
                    return format_status(search, name)
                if len(rest) != 1:
                    raise usage_error(f"%asha stop takes at most one trial id, got {rest!r}")
                tid = int_arg(rest[0], "stop TRIAL")
                search.stop_trial(tid)
                return StatusText(f"{name}: stopped trial {tid}")
            if cmd == "add":
                return search.add_trial(parse_config(rest))
        except AshaError as exc:
            raise usage_error(f"%asha {cmd}: {exc}") from None
        raise usage_error(f"unknown subcommand {cmd!r}")  # pragma: no cover


def _has_frontend(shell: Any) -> bool:
    """True inside a Jupyter kernel (a front end can render widgets)."""
    return getattr(shell, "kernel", None) is not None


def _dashboard(search: SearchView) -> Any:
    """The live dashboard, or ``None`` when the widgets extra is missing or it cannot be built."""
    try:
        from .widgets import Dashboard
    except Exception:  # noqa: BLE001 - missing extra or widgets not available
        return None
    try:
        return Dashboard(search)
    except Exception:
        import logging

        logging.getLogger("asha_nb.magic").warning("asha_nb: the dashboard could not be built",
                                                   exc_info=True)
        return None


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext asha_nb``: register the ``%asha`` line and ``%%asha`` cell magics."""
    ip.register_magics(AshaMagics)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext asha_nb``: remove the ``%asha`` magics again."""
    mm = getattr(ip, "magics_manager", None)
    if mm is None:
        return
    for kind in ("line", "cell"):
        mm.magics.get(kind, {}).pop("asha", None)
    mm.registry.pop("AshaMagics", None)
