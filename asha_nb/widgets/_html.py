"""The dashboard's text as HTML: status line, trial line, best lines, rung table, failures, the
running-jobs list and the control messages. Pure functions of a snapshot and plain data (no
widget): the live status widget and the static snapshot show the same HTML.

The words are the search's own: trial statuses are :class:`~asha_nb.core.TrialStatus` values
(``search.trials``), job statuses :class:`~asha_nb.core.JobStatus` values (``results()``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ..core.types import TrialStatus
from ..runtime.events import SearchSnapshot
from ._feed import TERMINAL

__all__ = ["RED", "message_html", "running_html", "status_html"]

_STATE_COLOURS = {"created": "#777", "running": "#2ca02c", "paused": "#ff7f0e",
                  "finished": "#1f77b4", "stopped": "#555", "failed": "#d62728"}
#: The colour of failures and failed controls.
RED = "#d62728"
#: Trial statuses in the order the status line lists them, with what each means there.
_TRIAL_WORDS = (
    (TrialStatus.PENDING, "pending"),
    (TrialStatus.RUNNING, "running"),
    (TrialStatus.PAUSED, "paused (may be promoted)"),
    (TrialStatus.COMPLETED, "completed"),
    (TrialStatus.NOT_PROMOTED, "not promoted"),
    (TrialStatus.STOPPED, "stopped"),
    (TrialStatus.FAILED, "failed"),
)


def _last_line(text: str, limit: int = 160) -> str:
    """The exception line of a traceback (its last non-empty line), shortened."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    last = lines[-1] if lines else str(text)
    return last if len(last) <= limit else last[: limit - 1] + "\u2026"


def _fmt(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "&ndash;"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return html.escape(str(v))


def _span(cls: str, text: str) -> str:
    return f"<span class='{cls}'>{text}</span>"


def message_html(text: str, *, error: bool = False) -> str:
    """A control's message (escaped; red for an error)."""
    style = f" style='color:{RED}'" if error else ""
    return f"<span class='asha-message'{style}>{html.escape(text)}</span>"


def status_html(snap: SearchSnapshot, *, max_resource: float, charts_at: float | None,
                failures: Mapping[tuple[int, int], str]) -> str:
    """Status line, trial line, best lines, end reason, rung table and failures.

    Parameters
    ----------
    snap
        The snapshot every number comes from.
    max_resource
        The top rung's resource (``search.best`` says whether it reached it).
    charts_at
        Search time the charts were last drawn (they lag behind when records arrive faster
        than the dashboard may draw them); ``None``: not yet.
    failures
        ``{(trial_id, rung): error}`` of the failed jobs (the last five are listed).
    """
    state = str(snap.state)
    colour = _STATE_COLOURS.get(state, "#777")
    pill = (f"<span class='asha-state' style='background:{colour};color:white;"
            f"padding:1px 8px;border-radius:8px'>{html.escape(state)}</span>")
    parts = [pill, f"{_span('asha-elapsed', f'{snap.elapsed:.1f}')} s"]
    if snap.paused_since is not None:
        since = max(0.0, snap.elapsed - snap.paused_since)
        parts.append(f"<span style='color:#ff7f0e;font-weight:bold'>paused for "
                     f"{_span('asha-paused-for', f'{since:.1f}')} s</span>")
    stuck = (f" ({_span('asha-stuck', str(snap.stuck_workers))} stuck past their "
             "timeout)" if snap.stuck_workers else "")
    parts.append(f"workers {_span('asha-busy', str(snap.busy_workers))}/"
                 f"{_span('asha-workers', str(snap.n_workers))} busy{stuck}")
    parts.append(f"jobs {_span('asha-jobs', str(snap.n_jobs))}")
    lag = None if charts_at is None else snap.elapsed - charts_at
    if lag is not None and lag > 1.0 and state not in TERMINAL:
        parts.append(f"<span class='asha-charts-lag' style='opacity:0.75'>charts as of "
                     f"{charts_at:.1f} s (results arrive faster than they are "
                     "drawn)</span>")
    line = " &middot; ".join(parts)
    counts = snap.trial_counts or {}
    trial_bits = []
    for st, word in _TRIAL_WORDS:
        n = int(counts.get(st.value, 0))
        if n or st is not TrialStatus.PENDING:
            cls = f"asha-trials-{st.value}"
            text = f"{_span(cls, str(n))} {word}"
            if st is TrialStatus.FAILED and n:
                text = f"<span style='color:{RED};font-weight:bold'>{text}</span>"
            trial_bits.append(text)
    trials = (f"trials: {_span('asha-started', str(snap.n_started))} started &mdash; "
              + ", ".join(trial_bits))
    if snap.best_any_value is not None:
        best_any = (f"best at any rung {_span('asha-best-any', _fmt(snap.best_any_value))} "
                    f"(trial {_span('asha-best-any-trial', str(snap.best_any_trial))}, "
                    f"resource {_span('asha-best-any-resource', _fmt(snap.best_any_resource, 'g'))})")
    else:
        best_any = "best at any rung &ndash;"
    if snap.best_value is not None:
        cfg = ", ".join(
            f"{html.escape(str(k))}="
            f"{_fmt(v, '.4g') if isinstance(v, float) else html.escape(str(v))}"
            for k, v in (snap.best_config or {}).items())
        where = ("the max resource" if snap.best_resource == max_resource
                 else "the highest resource reached so far")
        best = (f"<b>search.best</b> (best at {where}, "
                f"{_span('asha-best-resource', _fmt(snap.best_resource, 'g'))}): "
                f"<b>{_span('asha-best', _fmt(snap.best_value))}</b> "
                f"(trial {_span('asha-best-trial', str(snap.best_trial))}) "
                f"<code class='asha-best-config'>{cfg}</code>")
    else:
        best = "<b>search.best</b> &ndash;"
    reason = (f"<div class='asha-reason'>ended: {html.escape(snap.reason)}</div>"
              if snap.reason and state in TERMINAL else "")
    head = (f"<div class='asha-status'>{line}</div>"
            f"<div class='asha-trial-line'>{trials}</div>"
            f"<div class='asha-best-line'>{best_any} &middot; {best}</div>{reason}")
    return head + _rung_table(snap) + _failures_html(failures)


def _rung_table(snap: SearchSnapshot) -> str:
    brackets = len({r.bracket for r in snap.rungs}) > 1
    rows = "".join(
        "<tr>" + (f"<td>{r.bracket}</td>" if brackets else "")
        + f"<td class='asha-r-rung'>{r.rung}</td>"
        f"<td class='asha-r-resource'>{_fmt(r.resource, 'g')}</td>"
        f"<td class='asha-r-results'>{r.n_results}</td>"
        f"<td class='asha-r-promoted'>{r.n_promoted}</td>"
        f"<td class='asha-r-cutoff'>{_fmt(r.cutoff)}</td></tr>"
        for r in snap.rungs
    )
    td = "style='padding:1px 8px;text-align:right'"
    return (
        "<table class='asha-rungs' style='border-collapse:collapse;margin:4px 0'>"
        "<tr>" + ("<th>bracket</th>" if brackets else "")
        + "<th>rung</th><th>resource</th><th>results</th><th>promoted</th>"
        f"<th title='worst value still inside the top 1/&eta; of the rung'>cutoff</th>"
        f"</tr>{rows}</table>"
    ).replace("<td>", f"<td {td}>").replace("<td class=", f"<td {td} class=").replace(
        "<th>", "<th style='padding:1px 8px'>").replace("<th title", "<th style='padding:1px 8px' title")


def _failures_html(failures: Mapping[tuple[int, int], str]) -> str:
    if not failures:
        return ""
    items = list(failures.items())
    shown = "".join(
        f"<li title='{html.escape(e, quote=True)}'>trial {t} (rung {r}): "
        f"{html.escape(_last_line(e))}</li>" for (t, r), e in items[-5:]
    )
    more = len(items) - 5
    extra = f"<li>&hellip; and {more} earlier</li>" if more > 0 else ""
    return (f"<div class='asha-failures' style='color:{RED};border:1px solid {RED};"
            f"padding:2px 8px;margin:4px 0;max-height:9em;overflow:auto;"
            f"line-height:1.3'><b>{len(items)} failed job(s)</b> "
            f"(hover for the error)<ul style='margin:0'>{extra}{shown}</ul></div>")


def running_html(panel: Mapping[str, Any] | None) -> str:
    """The running-jobs list (a :meth:`~asha_nb.widgets._feed.DashboardFeed.running_panel`)
    as an HTML table; empty when no job runs."""
    panel = panel or {}
    rows = panel.get("rows") or []
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{r['trial_id']}</td><td>{r['rung']}</td><td>{_fmt(r['resource'], 'g')}"
        f"</td><td>{r['worker']}</td><td>{r['running_for']:.1f} s</td>"
        + (f"<td class='asha-stopping'>stopping&hellip; {html.escape(r.get('why', ''))}</td>"
           if r.get("stopping") else "") + "</tr>" for r in rows)
    return (f"<div class='asha-running'><b>{html.escape(panel.get('title', ''))}</b>"
            "<table><tr><th>trial</th><th>rung</th><th>resource</th><th>worker</th>"
            f"<th>running for</th></tr>{body}</table></div>")
