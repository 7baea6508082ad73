"""Records are marked in place: the given fields change, the others stay."""

from __future__ import annotations

import math

from asha_nb.core import JobStatus
from asha_nb.runtime._records import RecordStore


def _store() -> RecordStore:
    store = RecordStore([[1, 3, 9]], lambda t: {"x": t})
    store.start(0, 0, 1, 0, worker=2, start=1.5, attempts=1)
    return store


def test_mark_changes_only_the_given_fields() -> None:
    store = _store()
    store.mark(0, JobStatus.OK, end=4.0, value=0.25)
    rec = store.get(0)
    assert (rec.status, rec.worker, rec.start, rec.end, rec.value, rec.attempts) == (
        JobStatus.OK, 2, 1.5, 4.0, 0.25, 1)
    store.mark(0, error="late")
    store.mark(0, note="kept")
    rec = store.get(0)
    assert rec.status is JobStatus.OK and rec.value == 0.25 and rec.error == "late; kept"


def test_mark_clears_with_none_and_logs_the_change() -> None:
    store = _store()
    cursor, _ = store.changes(None)
    store.mark(0, JobStatus.FAILED, end=None, value=None, error="boom")
    rec = store.get(0)
    assert rec.end is None and rec.value is None and rec.error == "boom"
    assert math.isnan(store.columns()["end"][0])
    _, changed = store.changes(cursor)
    assert [r.job_id for r in changed] == [0] and changed[0].status is JobStatus.FAILED
