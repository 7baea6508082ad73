"""Control requests of a search: the command enum, the request that carries one, and the
argument checks made on the caller's thread.

Control calls from other threads (notebook cells, the dashboard's buttons) become
:class:`Request` objects on the loop's queue; scheduled ones (``search.at(t).pause()``) wait in
the loop's time-ordered heap. Only the loop applies them (:mod:`asha_nb.runtime._commands`).
"""

from __future__ import annotations

import concurrent.futures as cf
import enum
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_int
from ..errors import InvalidTypeError

__all__ = ["Command", "Request", "JOURNALED_CONTROLS", "WAKE", "check_args"]

WAKE = object()  #: put in the loop's inbox to wake it (a control request arrived)


class Command(str, enum.Enum):
    """What a control request asks the loop to do."""

    STOP_TRIAL = "stop_trial"  #: stop one trial (kill / cooperative flag for its running job)
    ADD_TRIAL = "add_trial"  #: add a configuration (enters rung 0 with the next free worker)
    PAUSE = "pause"  #: hand out no new jobs
    RESUME = "resume"  #: hand out jobs again
    STOP = "stop"  #: end the search (state "stopped")
    SET_N_WORKERS = "set_n_workers"  #: change the number of jobs kept in flight
    READ_TRIALS = "read_trials"  #: a read: the trials as columns, taken on the loop thread

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class Request:
    """One command with its arguments, the future its caller waits on, and when to apply it
    (``at``: search time, or ``None`` for as soon as possible)."""

    command: Command
    args: Mapping[str, Any]
    future: cf.Future[Any] = field(default_factory=cf.Future)
    at: float | None = None


#: Commands journaled as ``control`` rows (``stop_trial`` and ``add_trial`` are scheduler calls
#: with rows of their own).
JOURNALED_CONTROLS = frozenset({Command.PAUSE, Command.RESUME, Command.STOP,
                                Command.SET_N_WORKERS})


def check_args(command: Command, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a command's arguments on the caller's thread (clear errors before queueing)."""
    out = dict(args)
    if command is Command.STOP_TRIAL:
        tid = out["trial_id"]
        if isinstance(tid, bool) or not isinstance(tid, numbers.Integral):
            raise InvalidTypeError(f"trial_id must be an integer trial id, got {tid!r}")
        out["trial_id"] = int(tid)
    elif command is Command.ADD_TRIAL:
        cfg = out["config"]
        if not isinstance(cfg, Mapping):
            raise InvalidTypeError(
                f"config must be a dict of parameter values (e.g. {{'lr': 0.1}}), got "
                f"{type(cfg).__name__}: {cfg!r:.80}"
            )
        out["config"] = dict(cfg)
        out["check"] = bool(out.get("check", True))
    elif command is Command.SET_N_WORKERS:
        out["n_workers"] = check_int("n_workers", out["n_workers"], low=1)
    return out
