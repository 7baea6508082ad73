"""The ``%asha`` / ``%%asha`` IPython magic: start and steer a search from notebook cells.

Load it with ``%load_ext asha_nb``. IPython is imported only when this module is imported
(``import asha_nb`` does not import it). See :class:`AshaMagics` (or ``%asha?`` in a notebook)
for the commands.
"""

from __future__ import annotations

import ast
import linecache
import numbers
import time
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

__all__ = ["AshaMagics", "load_ipython_extension", "unload_ipython_extension", "StatusText"]

#: Subcommands that act on an existing search (the first word of ``%asha``).
SUBCOMMANDS = ("status", "stop", "add", "pause", "resume", "results", "workers", "wait", "best")

USAGE = (
    "usage: %asha OBJECTIVE [SPACE] [--max-resource R] [--eta N] [--workers N] [--max-trials N] "
    "[--name NAME] ...\n"
    "       %asha status|stop [TRIAL]|add KEY=VALUE ...|pause|resume|results|workers N|wait [S]|best "
    "[--name NAME];  %%asha [options] + objective cell;  help: %asha?"
)

_FILE_COUNTER = [0]


class StatusText(str):
    """A string that displays without quotes (what ``%asha status`` returns)."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def _usage_error(message: str) -> UsageError:
    message = message.rstrip()
    return UsageError(f"{message}\n{USAGE}")


def _number(text: str) -> int | float:
    """argparse type: an int when the text is integral, else a float."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None


_number.__name__ = "number"


def _parse_value(text: str) -> Any:
    """``ast.literal_eval`` with a fallback to the plain string (``adam`` -> ``'adam'``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def format_status(search: Any, name: str = "search") -> StatusText:
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


def _has_frontend(shell: Any) -> bool:
    """True inside a Jupyter kernel (a front end can render widgets)."""
    return getattr(shell, "kernel", None) is not None


def compile_cell_objective(body: str, user_ns: Mapping[str, Any] | dict[str, Any],
                           filename: str | None = None) -> Any:
    """Compile a cell body into ``objective(config, resource)``.

    The body runs as the inside of a function whose globals are ``user_ns`` (so it sees the
    notebook's names) and whose arguments are ``config`` and ``resource``. Its value is
    ``value`` if the body assigns it, else its last line if that is an expression; an explicit
    ``return`` works too.

    Raises
    ------
    UsageError
        The body has a syntax error, or neither assigns ``value``, ends with an expression nor
        contains ``return``.
    """
    if filename is None:
        _FILE_COUNTER[0] += 1
        filename = f"<%%asha cell {_FILE_COUNTER[0]}>"
    try:
        tree = ast.parse(body, filename=filename)
    except SyntaxError as exc:
        raise _usage_error(f"the %%asha cell body has a syntax error (line {exc.lineno}): "
                           f"{exc.msg}") from None
    stmts = list(tree.body)
    if not stmts:
        raise _usage_error("the %%asha cell body is empty: write the objective there, using "
                           "`config` and `resource`, and assign `value` (or end with an expression)")
    assigns_value = any(isinstance(n, ast.Name) and n.id == "value" and isinstance(n.ctx, ast.Store)
                        for n in ast.walk(tree))
    has_return = any(isinstance(n, ast.Return) for n in ast.walk(tree))
    last = stmts[-1]
    if assigns_value:
        ret = ast.Return(value=ast.Name(id="value", ctx=ast.Load()))
        ast.copy_location(ret, last)
        stmts.append(ret)
    elif isinstance(last, ast.Expr):
        ret = ast.Return(value=last.value)
        ast.copy_location(ret, last)
        stmts[-1] = ret
    elif not has_return:
        raise _usage_error("the %%asha cell body must assign `value` (e.g. `value = accuracy`) or "
                           "end with an expression; it sees `config` and `resource`")
    args = ast.arguments(posonlyargs=[], args=[ast.arg("config"), ast.arg("resource")],
                         vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    fdef = ast.FunctionDef(name="asha_cell_objective", args=args, body=stmts, decorator_list=[],
                           returns=None, type_params=[])
    ast.copy_location(fdef, stmts[0])
    module = ast.Module(body=[fdef], type_ignores=[])
    ast.fix_missing_locations(module)
    code = compile(module, filename, "exec")
    lines = body.splitlines(keepends=True)
    linecache.cache[filename] = (len(body), None, lines, filename)
    scratch: dict[str, Any] = {}
    exec(code, user_ns, scratch)  # noqa: S102 - the user's own cell, run like any cell
    func = scratch["asha_cell_objective"]
    func.__doc__ = "Objective compiled from a %%asha cell:\n\n" + body
    return func


@magics_class
class AshaMagics(Magics):
    """The ``%asha`` line magic and ``%%asha`` cell magic."""

    @magic_arguments()
    @argument("words", nargs="*", metavar="WORD",
              help="OBJECTIVE [SPACE] to start a search, or a subcommand: status, stop [TRIAL], "
                   "add KEY=VALUE ..., pause, resume, results, workers N, wait [SECONDS], best")
    @argument("--name", default="search",
              help="namespace variable the search is stored in / looked up from (default: search)")
    @argument("--space", default=None,
              help="name of the search space (default: the second word, else `space` if it is "
                   "a dict, else the one dict of distributions in the notebook)")
    @argument("--min-resource", type=_number, default=1, help="resource of rung 0 (default 1)")
    @argument("--max-resource", type=_number, default=81, help="largest resource (default 81)")
    @argument("--eta", "--reduction-factor", dest="eta", type=int, default=3,
              help="reduction factor: a rung promotes its top 1/eta (default 3)")
    @argument("--workers", type=int, default=2, help="jobs in flight (default 2)")
    @argument("--executor", default="thread",
              help="thread (default), process, dask, or a namespace name holding an executor "
                   "or a dask Client")
    @argument("--max-trials", type=int, default=None,
              help="configurations to create (default: no limit; stop with %%asha stop)")
    @argument("--seed", type=int, default=None, help="random seed")
    @argument("--mode", default="max", choices=("max", "min"), help="metric direction")
    @argument("--time-budget", type=float, default=None, help="seconds after which it ends")
    @argument("--journal", default=None,
              help="SQLite journal path (a killed search continues with Search.from_journal)")
    @argument("--text", action="store_true",
              help="show a text status instead of the live dashboard")
    @line_cell_magic
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
        try:
            args = parse_argstring(self.asha, _strip_comment(line))
        except UsageError as exc:
            raise _usage_error(str(exc)) from None
        except ValueError as exc:  # unbalanced quotes from the argument splitter
            raise _usage_error(f"cannot parse the arguments: {exc}") from None
        words = list(args.words)
        if cell is not None:
            if words:
                raise _usage_error(
                    f"%%asha takes options only (the cell body is the objective), got {words!r}")
            space = self._space(args.space)
            objective = compile_cell_objective(cell, self.shell.user_ns)
            return self._start(objective, space, args)
        if not words:
            if isinstance(self.shell.user_ns.get(args.name), _search_type()):
                return format_status(self.shell.user_ns[args.name], args.name)
            raise _usage_error("%asha needs an objective and a space to start a search, or a "
                               "subcommand")
        head, rest = words[0], words[1:]
        if head in SUBCOMMANDS:
            return self._subcommand(head, rest, args)
        if head not in self.shell.user_ns and not _looks_like_expression(head):
            raise _usage_error(
                f"unknown subcommand or name {head!r}: it is not one of "
                f"{', '.join(SUBCOMMANDS)} and not defined in the notebook")
        if len(rest) > 1:
            raise _usage_error(f"too many words: expected OBJECTIVE [SPACE], got {words!r}")
        if rest and args.space and args.space != rest[0]:
            raise _usage_error(f"two spaces given: {rest[0]!r} and --space {args.space!r}")
        objective = self._lookup(head, "objective")
        if not callable(objective):
            raise _usage_error(f"{head!r} is not callable: the objective must be a function "
                               f"objective(config, resource), got {type(objective).__name__}")
        return self._start(objective, self._space(rest[0] if rest else args.space), args)

    # ------------------------------------------------------------------ helpers
    def _lookup(self, name: str, what: str) -> Any:
        ns = self.shell.user_ns
        if name in ns:
            return ns[name]
        if _looks_like_expression(name):
            try:
                return eval(name, ns)  # noqa: S307 - the user's own expression
            except Exception as exc:  # noqa: BLE001
                raise _usage_error(f"cannot evaluate the {what} {name!r}: "
                                   f"{type(exc).__name__}: {exc}") from None
        raise _usage_error(f"unknown name {name!r}: no {what} called {name!r} is defined in the "
                           "notebook")

    def _space(self, name: str | None) -> Any:
        """The search space: the one named, else ``space`` if it is a mapping, else the one
        dict of distributions in the namespace (announced on stdout)."""
        ns = self.shell.user_ns
        if name is not None:
            value = self._lookup(name, "space")
            if not isinstance(value, Mapping):
                found = _space_candidates(ns)
                hint = (f"; did you mean {_names(found)}?" if len(found) == 1
                        else f"; search spaces in the notebook: {_names(found)}" if found
                        else f"; {_EXAMPLE_SPACE}")
                raise _usage_error(f"{name!r} is {_describe(value)}, not a search space (a dict "
                                   f"of distributions){hint}")
            return value
        if isinstance(ns.get("space"), Mapping):
            return ns["space"]
        found = _space_candidates(ns)
        if len(found) == 1:
            what = ("" if "space" not in ns
                    else f"; `space` is {_describe(ns['space'])}, not a search space")
            print(f"%asha: search space `{found[0]}` (the one dict of distributions in the "
                  f"notebook{what}; name another with --space NAME)")
            return ns[found[0]]
        if found:
            raise _usage_error(f"which search space? the notebook has {_names(found)}: pick one "
                               "with --space NAME (or as %asha OBJECTIVE SPACE)")
        what = ("no variable `space` is defined" if "space" not in ns
                else f"`space` is {_describe(ns['space'])}, not a search space")
        raise _usage_error(f"no search space found: {what}, and no other dict of distributions "
                           f"is defined in the notebook; {_EXAMPLE_SPACE}")

    def _executor(self, spec: str) -> Any:
        ns = self.shell.user_ns
        if spec in ("thread", "process", "dask"):
            return spec
        if spec in ns:
            return ns[spec]
        raise _usage_error(f"unknown executor {spec!r}: use thread, process, dask or the name of "
                           "an executor / dask Client in the notebook")

    def _get_search(self, name: str) -> Any:
        obj = self.shell.user_ns.get(name)
        if obj is None:
            raise _usage_error(f"no search called {name!r}: start one with %asha OBJECTIVE SPACE "
                               f"--name {name}, or pick one with --name")
        if not isinstance(obj, _search_type()):
            raise _usage_error(f"{name!r} is not an asha_nb.Search (it is a "
                               f"{type(obj).__name__}); pick the search with --name")
        return obj

    def _start(self, objective: Any, space: Any, args: Any) -> Any:
        from .errors import AshaError

        Search = _search_type()
        old = self.shell.user_ns.get(args.name)
        if isinstance(old, Search) and old.state in ("running", "paused"):
            raise _usage_error(
                f"the search {args.name!r} is still {old.state}: stop it first (%asha stop "
                f"--name {args.name}) or start this one under another --name")
        try:
            search = Search(
                objective, space,
                executor=self._executor(args.executor), n_workers=args.workers,
                journal=args.journal, max_trials=args.max_trials, time_budget=args.time_budget,
                seed=args.seed, min_resource=args.min_resource, max_resource=args.max_resource,
                reduction_factor=args.eta, mode=args.mode, progress=False,
            )
        except AshaError as exc:
            raise _usage_error(f"cannot start the search: {exc}") from None
        view = None
        if not args.text and _has_frontend(self.shell):
            view = _dashboard(search)
        search.start()
        self.shell.user_ns[args.name] = search
        deadline = time.monotonic() + 1.0
        while search.state == "created" and time.monotonic() < deadline:
            time.sleep(0.005)
        if view is not None:
            return view
        return format_status(search, args.name)

    def _subcommand(self, cmd: str, rest: list[str], args: Any) -> Any:
        from .errors import AshaError

        search = self._get_search(args.name)
        name = args.name
        try:
            if cmd == "status":
                _no_more(cmd, rest)
                return format_status(search, name)
            if cmd == "results":
                _no_more(cmd, rest)
                return search.results()
            if cmd == "best":
                _no_more(cmd, rest)
                return search.best
            if cmd == "pause":
                _no_more(cmd, rest)
                search.pause()
                return format_status(search, name)
            if cmd == "resume":
                _no_more(cmd, rest)
                search.resume()
                return format_status(search, name)
            if cmd == "wait":
                if len(rest) > 1:
                    raise _usage_error(f"%asha wait takes at most one number (seconds), got {rest!r}")
                timeout = _float_arg(rest[0], "wait SECONDS") if rest else None
                search.wait(timeout)
                return format_status(search, name)
            if cmd == "workers":
                if len(rest) != 1:
                    raise _usage_error(f"%asha workers takes one integer, got {rest!r}")
                search.set_n_workers(_int_arg(rest[0], "workers N"))
                return format_status(search, name)
            if cmd == "stop":
                if not rest:
                    search.stop()
                    return format_status(search, name)
                if len(rest) != 1:
                    raise _usage_error(f"%asha stop takes at most one trial id, got {rest!r}")
                tid = _int_arg(rest[0], "stop TRIAL")
                search.stop_trial(tid)
                return StatusText(f"{name}: stopped trial {tid}")
            if cmd == "add":
                if not rest:
                    raise _usage_error("%asha add needs KEY=VALUE pairs, e.g. %asha add lr=0.1 "
                                       "optimizer=adam")
                config: dict[str, Any] = {}
                for word in rest:
                    key, sep, text = word.partition("=")
                    if not sep or not key.strip():
                        raise _usage_error(f"%asha add expects KEY=VALUE pairs, got {word!r}")
                    config[key.strip()] = _parse_value(text.strip())
                return search.add_trial(config)
        except AshaError as exc:
            raise _usage_error(f"%asha {cmd}: {exc}") from None
        raise _usage_error(f"unknown subcommand {cmd!r}")  # pragma: no cover


def _strip_comment(line: str) -> str:
    """Drop a trailing ``# comment`` (a ``#`` at the start or after a space, outside quotes):
    ``%asha status  # state and best`` works as it reads."""
    quote = ""
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _no_more(cmd: str, rest: list[str]) -> None:
    if rest:
        raise _usage_error(f"%asha {cmd} takes no further words, got {rest!r}")


def _int_arg(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _usage_error(f"%asha {what}: expected an integer, got {text!r}") from None


def _float_arg(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _usage_error(f"%asha {what}: expected a number, got {text!r}") from None


_EXAMPLE_SPACE = ('define one, e.g. sp = {"lr": space.loguniform(1e-4, 1e-1)} after '
                  "`from asha_nb import space`, then pass --space sp")


def _describe(value: Any) -> str:
    """``the module asha_nb.space`` / ``an int`` / ``None``: what a name holds, for messages."""
    import types

    if isinstance(value, types.ModuleType):
        extra = " (from `from asha_nb import space`)" if value.__name__ == "asha_nb.space" else ""
        return f"the module {value.__name__}{extra}"
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _names(found: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in found)


def _space_candidates(ns: Mapping[str, Any]) -> list[str]:
    """Names in ``ns`` (not starting with ``_``) holding a ``Space`` or a dict whose values
    include at least one distribution (an asha_nb domain or a frozen scipy distribution)."""
    from .space import Domain, Space

    def is_dist(v: Any) -> bool:
        return isinstance(v, Domain) or (not isinstance(v, type)
                                         and callable(getattr(v, "rvs", None))
                                         and hasattr(v, "dist") and not callable(v))

    out: list[str] = []
    seen: set[int] = set()  # one object under two names is one candidate
    for name, value in list(ns.items()):
        if name.startswith("_") or not isinstance(value, Mapping) or id(value) in seen:
            continue
        try:
            ok = isinstance(value, Space) or (all(isinstance(k, str) for k in value)
                                              and any(is_dist(v) for v in value.values()))
        except Exception:  # noqa: BLE001 - an odd mapping is simply not a candidate
            ok = False
        if ok:
            seen.add(id(value))
            out.append(name)
    return out


def _looks_like_expression(text: str) -> bool:
    """``bench.objective`` or ``spaces['a']``: evaluated in the namespace; plain names are not."""
    return not text.isidentifier() and any(c in text for c in ".[(")


def _search_type() -> type:
    from .runtime import Search

    return Search


def _dashboard(search: Any) -> Any:
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
