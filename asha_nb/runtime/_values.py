"""What a job's end says: the objective's value as a float, or why there is none.

Both functions are pure and never raise: a value that does not fit a float, or a future that
raised, becomes an error message that the job's record keeps.
"""

from __future__ import annotations

import concurrent.futures as cf
import numbers
import sys
from typing import Any

__all__ = ["describe_exception", "to_value"]

_INF = float("inf")
_NAN = float("nan")
_NINF = float("-inf")
_NONE_MSG = (
    "objective returned None; it must return a number, or (value, checkpoint) for the "
    "checkpoint form"
)


def describe_exception(exc: BaseException, timeout: float | None) -> str:
    """A one-line description of why a job's future raised."""
    name = type(exc).__name__
    if name == "ProcessExpired":
        return f"worker crashed (exit code {getattr(exc, 'exitcode', '?')})"
    if name in ("KilledWorker", "TerminatedWorkerError", "BrokenProcessPool", "SimulatedCrash"):
        return f"worker crashed ({name}: {exc})"
    if isinstance(exc, (TimeoutError, cf.TimeoutError)):
        return f"timed out after {timeout:g} s" if timeout is not None else f"timed out ({exc})"
    if isinstance(exc, cf.CancelledError):
        return "cancelled"
    return f"{name}: {exc}"


def to_value(raw: Any) -> tuple[float | None, str | None]:
    """The objective's raw return value as a float, or ``(None, error message)``; never raises
    (a value that does not fit a float, or whose conversion fails, is an error message)."""
    if type(raw) is float:
        return raw, None
    try:
        return _to_value(raw)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the job's error
        return None, (f"objective returned a {type(raw).__name__} that cannot be converted to "
                      f"a float ({type(exc).__name__}: {exc}); it must return one number")


def _too_large(raw: Any) -> str:
    text = str(raw) if not isinstance(raw, int) or raw.bit_length() < 4000 else "a huge int"
    if len(text) > 40:
        text = f"{text[:12]}...{text[-6:]} ({len(text)} characters)"
    return (f"objective returned {text} ({type(raw).__name__}), which does not fit a float "
            f"(largest: {sys.float_info.max:.3g}); it must return one number a float can hold")


def _to_value(raw: Any) -> tuple[float | None, str | None]:
    if raw is None:
        return None, _NONE_MSG
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            return float(raw), None
        except OverflowError:
            return None, _too_large(raw)
    shape = getattr(raw, "shape", None)
    if shape is not None and callable(getattr(raw, "item", None)):
        if tuple(shape) == ():
            try:
                item = raw.item()
            except Exception as exc:  # noqa: BLE001 - reported as the job's error
                return None, f"objective returned a 0-d {type(raw).__name__} whose .item() failed: {exc}"
            if isinstance(item, numbers.Real) and not isinstance(item, bool):
                try:
                    return float(item), None
                except OverflowError:
                    return None, _too_large(item)
        return None, (f"objective returned a {type(raw).__name__} of shape {tuple(shape)}; it "
                      "must return one number (e.g. float(loss) or loss.item())")
    return None, (f"objective returned {raw!r:.100} ({type(raw).__name__}); it must return a "
                  "number, or (value, checkpoint) for the checkpoint form")
