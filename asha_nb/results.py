"""Trial/rung records -> cv_results_-style columns -> pandas.

A *record* is one dict per trial and rung (see :meth:`asha_nb.runtime.Search.records`) with
keys ``trial_id, rung, resource, value, status, config, worker, start, end, error, bracket,
job_id``. :func:`records_to_columns` flattens them into a dict of equal-length lists (like
scikit-learn's ``cv_results_``), with one ``config_<name>`` column per hyperparameter, so
``pandas.DataFrame(columns)`` just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["COLUMNS", "records_to_columns", "records_to_dataframe", "rung_table"]

#: Column order (``config_<name>`` columns are inserted after ``status``).
COLUMNS = ("trial_id", "rung", "resource", "value", "status", "worker", "start", "end", "error",
           "bracket", "job_id")


def records_to_columns(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Flatten records into a dict of equal-length columns.

    Examples
    --------
    >>> cols = records_to_columns([{"trial_id": 0, "rung": 0, "resource": 1, "value": 0.5,
    ...                             "status": "ok", "config": {"lr": 0.1}}])
    >>> cols["config_lr"], cols["value"]
    ([0.1], [0.5])
    """
    records = list(records)
    names: list[str] = []
    for rec in records:
        for k in rec.get("config", {}) or {}:
            if k not in names:
                names.append(k)
    head, tail = COLUMNS[:5], COLUMNS[5:]
    order = [*head, *(f"config_{n}" for n in names), *tail]
    cols: dict[str, list[Any]] = {c: [] for c in order}
    for rec in records:
        cfg = rec.get("config", {}) or {}
        for c in head + tail:
            cols[c].append(rec.get(c))
        for n in names:
            cols[f"config_{n}"].append(cfg.get(n))
    return cols


def records_to_dataframe(records: Iterable[Mapping[str, Any]]) -> Any:
    """Records as a pandas DataFrame (see :func:`records_to_columns`).

    Examples
    --------
    >>> records_to_dataframe([]).columns[:3].tolist()
    ['trial_id', 'rung', 'resource']
    """
    import pandas as pd

    return pd.DataFrame(records_to_columns(records))


def rung_table(records: Iterable[Mapping[str, Any]], mode: str = "max") -> Any:
    """Per rung: resource, number of ok results, best value, best trial (a DataFrame).

    Examples
    --------
    >>> rung_table([{"trial_id": 0, "rung": 0, "resource": 1, "value": 0.5, "status": "ok"}])
       rung  resource  n_results  best_value  best_trial
    0     0         1          1         0.5           0
    """
    import pandas as pd

    rows: dict[int, dict[str, Any]] = {}
    for rec in records:
        if rec.get("status") not in ("ok", "stopped") or rec.get("value") is None:
            continue
        row = rows.setdefault(rec["rung"], {"rung": rec["rung"], "resource": rec["resource"],
                                            "n_results": 0, "best_value": None, "best_trial": None})
        row["n_results"] += 1
        v = rec["value"]
        bv = row["best_value"]
        if v == v and (bv is None or (v > bv if mode == "max" else v < bv)):
            row["best_value"], row["best_trial"] = v, rec["trial_id"]
    cols = ["rung", "resource", "n_results", "best_value", "best_trial"]
    return pd.DataFrame([rows[k] for k in sorted(rows)], columns=cols)
