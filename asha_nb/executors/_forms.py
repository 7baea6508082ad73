"""The three forms of an objective (plain, checkpoint, trial) and how one is recognised.

:func:`objective_form` reads an objective's signature once, when the search is built; the
workers (:mod:`asha_nb.executors._worker`) call it in that form. This module imports nothing of
the executors, so the executor base can check an objective without an import cycle.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any

from .._trial import Trial
from ..errors import InvalidTypeError

__all__ = ["ObjectiveForm", "objective_form"]

_CHECKPOINT_NAMES = ("checkpoint", "ckpt", "state")


class ObjectiveForm(enum.StrEnum):
    """How an objective is called (see the module docstring)."""

    PLAIN = "plain"  #: ``objective(config, resource) -> value``
    CHECKPOINT = "checkpoint"  #: ``objective(config, resource, checkpoint) -> (value, ckpt)``
    TRIAL = "trial"  #: ``objective(trial) -> value``


_FORMS_HELP = (
    "objective(config, resource) -> value, "
    "objective(config, resource, checkpoint) -> (value, new_checkpoint), "
    "or objective(trial) -> value"
)


#: Names of a single parameter that say "a configuration", not "a Trial": ``def f(config)``
#: is refused (it would be called with a :class:`~asha_nb.Trial`).
_CONFIG_NAMES = frozenset({"config", "cfg", "conf", "configuration", "params", "hparams",
                           "hyperparams", "hyperparameters", "hp", "hps", "settings"})


def _is_trial_annotation(annotation: Any) -> bool:
    """Whether a parameter annotation names :class:`~asha_nb.Trial` (class or string)."""
    if annotation is Trial:
        return True
    return isinstance(annotation, str) and annotation.strip("'\"").rsplit(".", 1)[-1] == "Trial"


def objective_form(objective: Callable[..., Any]) -> ObjectiveForm:
    """Return how ``objective`` is called, from its signature.

    The three forms, and how a signature is matched to one:

    - **checkpoint** ``f(config, resource, checkpoint)``: three required positional
      parameters, or a third positional one named ``checkpoint``, ``ckpt`` or ``state`` (it may
      have a default);
    - **plain** ``f(config, resource)``: two required positional parameters (more positional
      ones must have defaults), or a second one named ``resource``;
    - **trial** ``f(trial)``: one positional parameter (``trial``, any other name, or one
      annotated ``Trial``). A single parameter named like a configuration (``config``,
      ``cfg``, ``params``, ``hparams``, ``hp``, ...) and not annotated ``Trial`` is refused:
      it would receive a :class:`~asha_nb.Trial`, not the configuration (use ``f(trial)`` and
      read ``trial.config``, or ``f(config, resource)``).

    A signature that the search could not call is refused here, before any job runs: more
    than three required positional parameters, or a required keyword-only parameter (the
    runtime passes arguments by position only). ``*args`` / ``**kwargs`` and parameters with
    defaults are fine.

    Parameters
    ----------
    objective
        The user's objective function.

    Returns
    -------
    ObjectiveForm

    Raises
    ------
    InvalidTypeError
        If ``objective`` is not callable or its signature fits none of the three forms.

    Examples
    --------
    >>> objective_form(lambda config, resource: 0.0).value
    'plain'
    >>> objective_form(lambda config, resource, checkpoint=None: (0.0, None)).value
    'checkpoint'
    >>> objective_form(lambda trial: 0.0).value
    'trial'
    >>> async def remote(config, resource):
    ...     return 0.0
    >>> objective_form(remote).value
    'plain'
    >>> objective_form(lambda a, b, c, d: 0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidTypeError: objective must be written as ...; got <lambda>(a, b, c, d)
    >>> objective_form(lambda config: 0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidTypeError: objective must be written as ...; got <lambda>(config)
    """
    if not callable(objective):
        raise InvalidTypeError(
            f"objective must be a callable ({_FORMS_HELP}); got {type(objective).__name__}"
        )
    override = getattr(objective, "__asha_form__", None)
    if override is not None:
        try:
            return ObjectiveForm(override)
        except ValueError:
            raise InvalidTypeError(
                f"objective.__asha_form__ must be one of 'plain', 'checkpoint', 'trial'; "
                f"got {override!r}"
            ) from None
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"cannot read the signature of objective {objective!r} ({exc}); write it as "
            f"{_FORMS_HELP}, or set objective.__asha_form__"
        ) from None
    if inspect.isgeneratorfunction(objective) or inspect.isasyncgenfunction(objective):
        raise InvalidTypeError(
            f"objective {getattr(objective, '__qualname__', objective)!r} is a generator "
            f"function (it uses yield); an objective returns its value: {_FORMS_HELP}. "
            "Report intermediate values with trial.report(value) instead of yield"
        )
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in kinds]
    n_req = sum(p.default is inspect.Parameter.empty for p in positional)
    n_pos = len(positional)
    name = getattr(objective, "__name__", type(objective).__name__)

    def refuse(why: str) -> InvalidTypeError:
        return InvalidTypeError(
            f"objective must be written as {_FORMS_HELP} (or set objective.__asha_form__); "
            f"the search cannot call it: {why}; got {name}{sig}"
        )

    kw_only = [p.name for p in params
               if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty]
    if kw_only:
        raise refuse(f"it has required keyword-only parameter(s) {', '.join(kw_only)} (the "
                     "search passes arguments by position; give them defaults)")
    if n_req > 3:
        raise refuse(f"it has {n_req} required parameters and the search passes at most 3")
    if n_req == 3 or (n_req >= 2 and n_pos >= 3 and positional[2].name in _CHECKPOINT_NAMES):
        return ObjectiveForm.CHECKPOINT
    if n_req == 2 or (n_req == 1 and n_pos >= 2 and positional[1].name == "resource"):
        return ObjectiveForm.PLAIN
    if n_req == 1 or (n_req == 0 and n_pos >= 1):
        first = positional[0]
        if first.name.lower() in _CONFIG_NAMES and not _is_trial_annotation(first.annotation):
            raise refuse(f"its one parameter {first.name!r} would receive a Trial, not the "
                         "configuration (a single parameter is the trial form: name it "
                         "'trial' and read trial.config and trial.resource, or annotate it "
                         "as Trial)")
        return ObjectiveForm.TRIAL
    raise refuse("it takes no positional parameter")
