"""Reading a ``%asha`` line: its options, its words, and the notebook names they refer to.

The options of the magic (one ``argparse`` spec: :func:`magic_options`), the values of
``%asha add KEY=VALUE`` (:func:`parse_value`), trailing comments, the numbers of the
subcommands, the ``%%asha`` cell compiled into an objective (:func:`compile_cell_objective`),
and the lookup of the objective, the space and the executor in the notebook's namespace
(:func:`lookup`, :func:`find_space`, :func:`executor_spec`). Every mistake is a short
:class:`~IPython.core.error.UsageError` that ends with the usage line. Nothing here starts or
shows a search (that is :mod:`asha_nb.magic`).
"""

from __future__ import annotations

import argparse
import ast
import linecache
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument as _argument
from IPython.core.magic_arguments import magic_arguments as _magic_arguments
from IPython.core.magic_arguments import parse_argstring as _parse_argstring

__all__ = ["SUBCOMMANDS", "USAGE", "compile_cell_objective", "executor_spec", "find_space",
           "float_arg", "int_arg", "lookup", "magic_options", "no_more", "parse_config",
           "parse_line", "parse_value", "strip_comment", "usage_error"]

_F = TypeVar("_F", bound=Callable[..., Any])
_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# IPython's argparse decorators are untyped: typed once here.
_argument_t: Callable[..., _Decorator] = _argument
_magic_arguments_t: Callable[[], _Decorator] = _magic_arguments
_parse_argstring_t: Callable[[Callable[..., Any], str], argparse.Namespace] = _parse_argstring

#: Subcommands that act on an existing search (the first word of ``%asha``).
SUBCOMMANDS = ("status", "stop", "add", "pause", "resume", "results", "workers", "wait", "best")

USAGE = (
    "usage: %asha OBJECTIVE [SPACE] [--max-resource R] [--eta N] [--workers N] [--max-trials N] "
    "[--name NAME] ...\n"
    "       %asha status|stop [TRIAL]|add KEY=VALUE ...|pause|resume|results|workers N|wait [S]|best "
    "[--name NAME];  %%asha [options] + objective cell;  help: %asha?"
)

_EXAMPLE_SPACE = ('define one, e.g. sp = {"lr": space.loguniform(1e-4, 1e-1)} after '
                  "`from asha_nb import space`, then pass --space sp")

_FILE_COUNTER = [0]


def usage_error(message: str) -> UsageError:
    """A short ``UsageError``: the message, then the usage line."""
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


# ------------------------------------------------------------------ options
_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("words",), dict(nargs="*", metavar="WORD",
                      help="OBJECTIVE [SPACE] to start a search, or a subcommand: status, stop "
                           "[TRIAL], add KEY=VALUE ..., pause, resume, results, workers N, wait "
                           "[SECONDS], best")),
    (("--name",), dict(default="search",
                       help="namespace variable the search is stored in / looked up from "
                            "(default: search)")),
    (("--space",), dict(default=None,
                        help="name of the search space (default: the second word, else `space` "
                             "if it is a dict, else the one dict of distributions in the "
                             "notebook)")),
    (("--min-resource",), dict(type=_number, default=1, help="resource of rung 0 (default 1)")),
    (("--max-resource",), dict(type=_number, default=81, help="largest resource (default 81)")),
    (("--eta", "--reduction-factor"), dict(dest="eta", type=int, default=3,
                                           help="reduction factor: a rung promotes its top "
                                                "1/eta (default 3)")),
    (("--workers",), dict(type=int, default=2, help="jobs in flight (default 2)")),
    (("--executor",), dict(default="thread",
                           help="thread (default), process, dask, or a namespace name holding an "
                                "executor or a dask Client")),
    (("--max-trials",), dict(type=int, default=None,
                             help="configurations to create (default: no limit; stop with "
                                  "%%asha stop)")),
    (("--seed",), dict(type=int, default=None, help="random seed")),
    (("--mode",), dict(default="max", choices=("max", "min"), help="metric direction")),
    (("--time-budget",), dict(type=float, default=None, help="seconds after which it ends")),
    (("--journal",), dict(default=None,
                          help="SQLite journal path (a killed search continues with "
                               "Search.from_journal)")),
    (("--text",), dict(action="store_true",
                       help="show a text status instead of the live dashboard")),
)


def magic_options(func: _F) -> _F:
    """Give the magic ``func`` the options of ``%asha`` (its ``%asha?`` help lists them)."""
    out: Callable[..., Any] = func
    for names, kwargs in reversed(_OPTIONS):  # as stacked decorators: the last one first
        out = _argument_t(*names, **kwargs)(out)
    return cast(_F, _magic_arguments_t()(out))


def parse_line(func: Callable[..., Any], line: str) -> argparse.Namespace:
    """The options and words of a ``%asha`` line (a trailing ``# comment`` dropped)."""
    try:
        return _parse_argstring_t(func, strip_comment(line))
    except UsageError as exc:
        raise usage_error(str(exc)) from None
    except ValueError as exc:  # unbalanced quotes from the argument splitter
        raise usage_error(f"cannot parse the arguments: {exc}") from None


def strip_comment(line: str) -> str:
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


# ------------------------------------------------------------------ subcommand words
def parse_value(text: str) -> Any:
    """``ast.literal_eval`` with a fallback to the plain string (``adam`` -> ``'adam'``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_config(words: list[str]) -> dict[str, Any]:
    """The configuration of ``%asha add KEY=VALUE ...``."""
    if not words:
        raise usage_error("%asha add needs KEY=VALUE pairs, e.g. %asha add lr=0.1 "
                          "optimizer=adam")
    config: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep or not key.strip():
            raise usage_error(f"%asha add expects KEY=VALUE pairs, got {word!r}")
        config[key.strip()] = parse_value(text.strip())
    return config


def no_more(cmd: str, rest: list[str]) -> None:
    """Refuse words after a subcommand that takes none."""
    if rest:
        raise usage_error(f"%asha {cmd} takes no further words, got {rest!r}")


def int_arg(text: str, what: str) -> int:
    """An integer word of a subcommand."""
    try:
        return int(text)
    except ValueError:
        raise usage_error(f"%asha {what}: expected an integer, got {text!r}") from None


def float_arg(text: str, what: str) -> float:
    """A number word of a subcommand."""
    try:
        return float(text)
    except ValueError:
        raise usage_error(f"%asha {what}: expected a number, got {text!r}") from None


# ------------------------------------------------------------------ the %%asha cell
def compile_cell_objective(body: str, user_ns: dict[str, Any],
                           filename: str | None = None) -> Callable[..., Any]:
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
        raise usage_error(f"the %%asha cell body has a syntax error (line {exc.lineno}): "
                          f"{exc.msg}") from None
    stmts = list(tree.body)
    if not stmts:
        raise usage_error("the %%asha cell body is empty: write the objective there, using "
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
        raise usage_error("the %%asha cell body must assign `value` (e.g. `value = accuracy`) or "
                          "end with an expression; it sees `config` and `resource`")
    args = ast.arguments(posonlyargs=[], args=[ast.arg("config"), ast.arg("resource")],
                         vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    since_312: dict[str, Any] = {"type_params": []}  # Python >= 3.12 wants it; 3.11 ignores it
    fdef = ast.FunctionDef(name="asha_cell_objective", args=args, body=stmts, decorator_list=[],
                           returns=None, **since_312)
    ast.copy_location(fdef, stmts[0])
    module = ast.Module(body=[fdef], type_ignores=[])
    ast.fix_missing_locations(module)
    code = compile(module, filename, "exec")
    lines = body.splitlines(keepends=True)
    linecache.cache[filename] = (len(body), None, lines, filename)
    scratch: dict[str, Any] = {}
    exec(code, user_ns, scratch)  # noqa: S102 - the user's own cell, run like any cell
    func: Callable[..., Any] = scratch["asha_cell_objective"]
    func.__doc__ = "Objective compiled from a %%asha cell:\n\n" + body
    return func


# ------------------------------------------------------------------ names in the notebook
def looks_like_expression(text: str) -> bool:
    """``bench.objective`` or ``spaces['a']``: evaluated in the namespace; plain names are not."""
    return not text.isidentifier() and any(c in text for c in ".[(")


def lookup(ns: dict[str, Any], name: str, what: str) -> Any:
    """The value of ``name`` in the notebook (an expression such as ``bench.objective`` is
    evaluated there); ``what`` names it in the error."""
    if name in ns:
        return ns[name]
    if looks_like_expression(name):
        try:
            return eval(name, ns)  # noqa: S307 - the user's own expression
        except Exception as exc:  # noqa: BLE001
            raise usage_error(f"cannot evaluate the {what} {name!r}: "
                              f"{type(exc).__name__}: {exc}") from None
    raise usage_error(f"unknown name {name!r}: no {what} called {name!r} is defined in the "
                      "notebook")


def find_space(ns: dict[str, Any], name: str | None) -> Mapping[str, Any]:
    """The search space: the one named, else ``space`` if it is a mapping, else the one dict
    of distributions in the namespace (announced on stdout)."""
    if name is not None:
        value = lookup(ns, name, "space")
        if not isinstance(value, Mapping):
            found = space_candidates(ns)
            hint = (f"; did you mean {_names(found)}?" if len(found) == 1
                    else f"; search spaces in the notebook: {_names(found)}" if found
                    else f"; {_EXAMPLE_SPACE}")
            raise usage_error(f"{name!r} is {_describe(value)}, not a search space (a dict "
                              f"of distributions){hint}")
        return value
    if isinstance(ns.get("space"), Mapping):
        space: Mapping[str, Any] = ns["space"]
        return space
    found = space_candidates(ns)
    if len(found) == 1:
        what = ("" if "space" not in ns
                else f"; `space` is {_describe(ns['space'])}, not a search space")
        print(f"%asha: search space `{found[0]}` (the one dict of distributions in the "
              f"notebook{what}; name another with --space NAME)")
        space = ns[found[0]]
        return space
    if found:
        raise usage_error(f"which search space? the notebook has {_names(found)}: pick one "
                          "with --space NAME (or as %asha OBJECTIVE SPACE)")
    what = ("no variable `space` is defined" if "space" not in ns
            else f"`space` is {_describe(ns['space'])}, not a search space")
    raise usage_error(f"no search space found: {what}, and no other dict of distributions "
                      f"is defined in the notebook; {_EXAMPLE_SPACE}")


def executor_spec(ns: dict[str, Any], spec: str) -> Any:
    """``--executor``: a factory name, or the executor / dask Client a notebook name holds."""
    if spec in ("thread", "process", "dask"):
        return spec
    if spec in ns:
        return ns[spec]
    raise usage_error(f"unknown executor {spec!r}: use thread, process, dask or the name of "
                      "an executor / dask Client in the notebook")


def _describe(value: Any) -> str:
    """``the module asha_nb.space`` / ``an int`` / ``None``: what a name holds, for messages."""
    if isinstance(value, types.ModuleType):
        extra = " (from `from asha_nb import space`)" if value.__name__ == "asha_nb.space" else ""
        return f"the module {value.__name__}{extra}"
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _names(found: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in found)


def space_candidates(ns: Mapping[str, Any]) -> list[str]:
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
