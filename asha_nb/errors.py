"""Exception hierarchy of asha_nb.

Every error raised on purpose by asha_nb derives from :class:`AshaError`, and the ones caused
by bad arguments also derive from the built-in exception a user would expect
(``ValueError``/``TypeError``/``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AshaError",
    "InvalidParameterError",
    "InvalidTypeError",
    "SearchStateError",
    "ExecutorLostError",
    "JournalError",
    "JournalLockedError",
    "JournalMismatchError",
    "CheckpointError",
    "MissingExtraError",
    "SearchStateWarning",
]


class AshaError(Exception):
    """Base class of every error raised on purpose by asha_nb."""


class InvalidParameterError(AshaError, ValueError):
    """An argument has a value outside its allowed range.

    The message names the argument, the allowed range and the value that was given.
    """


class InvalidTypeError(AshaError, TypeError):
    """An argument has the wrong type; the message names the argument and the expected type."""


class SearchStateError(AshaError, RuntimeError):
    """An operation does not fit the current state (e.g. a control call on a finished search)."""


class SearchStateWarning(UserWarning):
    """A call that does nothing in the search's state, said so instead of failing (e.g.
    ``run()`` on a search that already ended returns it unchanged)."""


class ExecutorLostError(AshaError, RuntimeError):
    """The executor can no longer run jobs (its Dask client or cluster was closed, its pool is
    broken for good). Raised by ``submit`` or set on a job's future; the search then ends as
    ``failed`` with this message as the reason."""


class MissingExtraError(AshaError, ImportError):
    """An optional dependency is missing; the message says which ``pip install`` fixes it."""

    def __init__(self, extra: str, package: str):
        super().__init__(
            f"this feature needs {package!r}, which is not installed; "
            f'install it with: pip install "asha_nb[{extra}]"'
        )
        self.extra = extra
        self.package = package


def import_extra(module: str, extra: str, package: str | None = None) -> Any:
    """``importlib.import_module(module)``, or :class:`MissingExtraError` naming the extra to
    install (``package``: the name pip knows, if not ``module``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, package or module) from exc


class JournalError(InvalidParameterError):
    """A journal path that cannot be used: not a file path, a folder, a file that is not an
    asha_nb journal (left unchanged), a damaged journal, a folder that cannot be written.

    The message names the path and the fix. A ``ValueError`` (and
    :class:`~asha_nb.errors.InvalidParameterError`).
    """


class JournalLockedError(JournalError, SearchStateError):
    """The journal is being written by another search (another process, or a search of this
    process that has not ended). The message names the holder: pid, host and since when.

    Attributes
    ----------
    holder
        What the holder wrote in the lock file (``pid``, ``host``, ``since``, ``argv``);
        empty if it could not be read.
    """

    def __init__(self, message: str, holder: dict[str, Any] | None = None):
        super().__init__(message)
        self.holder = dict(holder or {})


class JournalMismatchError(AshaError, RuntimeError):
    """Replaying a journal did not reproduce the recorded jobs (wrong scheduler version/space)."""


class CheckpointError(AshaError, RuntimeError):
    """A trial's checkpoint could not be written to, or read from, the journal's checkpoint
    folder. Only that trial is affected: the runtime notes it on the job's record (save), or
    retrains the trial from scratch (load)."""
