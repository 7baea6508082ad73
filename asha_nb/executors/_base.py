"""The contract between the runtime loop and the places trials run (threads, processes, Dask...).

The runtime (``asha_nb.runtime``) is the only caller. It builds a :class:`JobSpec` for every job
the scheduler hands out, submits it, and waits on the returned :class:`RunningJob` futures with
``concurrent.futures.wait(..., return_when=FIRST_COMPLETED)``. A future resolves to a
:class:`JobOutcome`; it may also raise (cancelled, killed worker, timeout), which the runtime
turns into a failed or stopped job. Intermediate values (``trial.report(...)`` inside the
objective) flow back through :meth:`BaseExecutor.drain_reports` while the job runs, and are also
returned in ``JobOutcome.intermediate`` so none is lost if streaming is not possible.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, overload

from ..core import Job
from ..errors import InvalidParameterError, InvalidTypeError
from ._forms import objective_form

__all__ = ["JobSpec", "JobOutcome", "IntermediateReport", "RunningJob", "BaseExecutor"]


class _SpecFields(NamedTuple):
    job: Job
    checkpoint: Any = None
    timeout: float | None = None
    worker: int = 0


class JobSpec(_SpecFields):
    """Everything a worker needs to run one job (immutable, picklable): the scheduler's
    :class:`~asha_nb.core.Job` itself, and beside it the trial's checkpoint, the job's timeout
    and the worker slot it was given.

    Build one from a job, ``JobSpec(job, checkpoint, timeout, worker)``, or, without a
    scheduler (tests, a direct call to an executor), from the job's fields:
    ``JobSpec(job_id, trial_id, config, rung, resource, resume_from, checkpoint, timeout,
    worker, bracket)``.

    Attributes
    ----------
    job
        The scheduler's :class:`~asha_nb.core.Job`; ``job_id``, ``trial_id``, ``config``,
        ``rung``, ``resource``, ``resume_from`` and ``bracket`` read through to it.
    checkpoint
        The trial's last checkpoint (any picklable object) or ``None``: a promoted trial resumes
        from it instead of retraining.
    timeout
        Per-job wall-clock limit in seconds, or ``None``.
    worker
        The worker slot (0 .. n_workers - 1) the runtime gave the job; it is what
        ``results()`` shows in its ``worker`` column.

    Examples
    --------
    >>> from asha_nb.core import Job
    >>> spec = JobSpec(Job(0, 0, {"x": 2.0}, rung=0, resource=3), worker=1)
    >>> spec.job_id, spec.resource, spec.worker
    (0, 3, 1)
    >>> JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0).job == spec.job
    True
    """

    __slots__ = ()

    @overload
    def __new__(cls, job: Job, checkpoint: Any = None, timeout: float | None = None,
                worker: int = 0) -> JobSpec: ...

    @overload
    def __new__(cls, job_id: int, trial_id: int, config: Mapping[str, Any], rung: int,
                resource: float, resume_from: float = 0, checkpoint: Any = None,
                timeout: float | None = None, worker: int = 0, bracket: int = 0) -> JobSpec: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> JobSpec:
        first = args[0] if args else kwargs.get("job")
        if isinstance(first, Job):
            fields = dict(zip(_SPEC_FIELDS, args))
            fields.update(kwargs)
        else:  # the job's own fields: build its Job
            given = dict(zip(_FLAT_FIELDS, args))
            given.update(kwargs)
            job_fields = {k: given.pop(k) for k in _JOB_FIELDS if k in given}
            fields = {"job": Job(**job_fields), **given}
        bad = set(fields) - set(_SPEC_FIELDS)
        if bad:
            raise TypeError(f"JobSpec() got unexpected arguments {sorted(bad)}")
        return tuple.__new__(cls, (fields["job"], fields.get("checkpoint"),
                                   fields.get("timeout"), fields.get("worker", 0)))

    @classmethod
    def of(cls, job: Job, checkpoint: Any, timeout: float | None, worker: int) -> JobSpec:
        """The runtime's constructor (its hot path: no argument parsing)."""
        return tuple.__new__(cls, (job, checkpoint, timeout, worker))

    def __repr__(self) -> str:
        return (f"JobSpec({self.job!r}, checkpoint={'...' if self.checkpoint is not None else None}, "
                f"timeout={self.timeout!r}, worker={self.worker!r})")

    @property
    def job_id(self) -> int:
        """The job's id (from :attr:`job`)."""
        return self.job.job_id

    @property
    def trial_id(self) -> int:
        """The job's trial (from :attr:`job`)."""
        return self.job.trial_id

    @property
    def config(self) -> Mapping[str, Any]:
        """The trial's configuration (from :attr:`job`)."""
        return self.job.config

    @property
    def rung(self) -> int:
        """The rung whose result the job produces (from :attr:`job`)."""
        return self.job.rung

    @property
    def resource(self) -> float:
        """The resource the trial is trained to (from :attr:`job`)."""
        return self.job.resource

    @property
    def resume_from(self) -> float:
        """The resource the trial already has (from :attr:`job`)."""
        return self.job.resume_from

    @property
    def bracket(self) -> int:
        """The job's bracket (from :attr:`job`)."""
        return self.job.bracket


_SPEC_FIELDS = ("job", "checkpoint", "timeout", "worker")
_JOB_FIELDS = ("job_id", "trial_id", "config", "rung", "resource", "resume_from", "bracket")
_FLAT_FIELDS = ("job_id", "trial_id", "config", "rung", "resource", "resume_from",
                "checkpoint", "timeout", "worker", "bracket")


class JobOutcome(NamedTuple):
    """What a finished job sends back (immutable).

    Attributes
    ----------
    value
        The objective's raw return value (validated by the runtime, not the worker).
    checkpoint
        New checkpoint to keep for the trial, or ``None``.
    error
        Formatted traceback if the objective raised, else ``None``.
    intermediate
        ``(resource, value)`` pairs the objective reported while it ran.
    stopped
        ``True`` if the objective returned early because a cooperative stop was requested.
    duration
        Seconds the objective ran (measured in the worker).
    note
        What the worker had to leave out, kept on the job's record (e.g. a checkpoint that
        could not be pickled to leave its worker process: the value still comes back).
    """

    value: Any = None
    checkpoint: Any = None
    error: str | None = None
    intermediate: tuple[tuple[float, float], ...] = ()
    stopped: bool = False
    duration: float = 0.0
    note: str | None = None


class IntermediateReport(NamedTuple):
    """One value reported by a running job (streamed to learning curves)."""

    job_id: int
    trial_id: int
    resource: float
    value: float


@dataclass(eq=False, slots=True)
class RunningJob:
    """A submitted job, from its submission to its end: the one object the executor and the
    runtime's loop share while the job is out.

    The executor builds it in :meth:`BaseExecutor.submit` (``spec``, ``future``, ``extra``,
    ``started_at``); the loop keeps its own bookkeeping of the job on the same object (``start``
    .. ``note``), so the worker slot, the job and the future are never copied.

    Attributes
    ----------
    spec
        What was submitted (its :attr:`JobSpec.job` and :attr:`JobSpec.worker` are the job
        and the worker slot).
    future
        Resolves to a :class:`JobOutcome`, or raises (cancelled, killed worker, timeout,
        :class:`~asha_nb.errors.ExecutorLostError`).
    extra
        Executor-private data.
    started_at
        ``time.monotonic()`` when the objective really began in its worker (or when the
        executor learnt it did), set by executors that can know it: the thread executor from
        the worker thread, Dask from the worker's start message, a user's
        ``concurrent.futures`` pool when the job's future is set running. ``None`` while the
        job has not started or where the executor cannot tell; see
        :attr:`BaseExecutor.reports_starts` for how the runtime counts a job timeout then.
    start
        Search time at which the runtime handed the job out (its record's ``start``).
    attempt
        0 for the first run of the job, 1 for its first retry, ...
    submitted
        ``time.monotonic()`` at submission where a job timeout is counted, else 0.
    user_stopped
        The user stopped its trial while it ran.
    timed_out
        The error recorded when its timeout passed (``None``: not timed out).
    streamed
        Intermediate values of the job came through :meth:`BaseExecutor.drain_reports`.
    note
        Kept on its record (e.g. a checkpoint that could not be loaded).
    """

    spec: JobSpec
    future: cf.Future[JobOutcome]
    extra: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    start: float = 0.0
    attempt: int = 0
    submitted: float = 0.0
    user_stopped: bool = False
    timed_out: str | None = None
    streamed: bool = False
    note: str | None = None

    @property
    def job(self) -> Job:
        """The scheduler's job (``spec.job``)."""
        return self.spec.job

    @property
    def worker(self) -> int:
        """The worker slot the job holds (``spec.worker``)."""
        return self.spec.worker


def check_n_workers(n_workers: Any) -> int:
    """Validate ``n_workers`` (a positive int)."""
    if isinstance(n_workers, bool) or not isinstance(n_workers, int):
        raise InvalidTypeError(f"n_workers must be an int >= 1; got {n_workers!r}")
    if n_workers < 1:
        raise InvalidParameterError(f"n_workers must be an int >= 1; got {n_workers!r}")
    return n_workers


class BaseExecutor(abc.ABC):
    """Where jobs run. Implementations: thread, process (pebble), Dask, any cf.Executor.

    Life cycle: ``start(objective, n_workers)`` once, then ``submit`` / ``stop_job`` /
    ``drain_reports`` / ``resize`` from the runtime's loop thread only, then ``shutdown``.

    The runtime keeps at most ``n_workers`` jobs out, so a submitted job starts at once on a
    free worker. An executor that can no longer run anything (its Dask client was closed, its
    pool is broken for good) raises :class:`~asha_nb.errors.ExecutorLostError` from
    :meth:`submit` or sets it on the futures of its jobs: the search then ends as failed with
    that reason.
    """

    #: Short name used in results and the dashboard ("thread", "process", "dask", ...).
    name: str = "base"
    #: Whether ``stop_job`` really interrupts a running job (kill), not only cooperatively.
    can_kill: bool = False
    #: Whether the executor enforces ``JobSpec.timeout`` itself, counted from the job's real
    #: start (its future then raises ``TimeoutError``). If ``False`` the runtime enforces it:
    #: at ``started_at + timeout`` (or submission + timeout) it records the job as timed out
    #: and calls :meth:`stop_job`; a job that cannot be killed keeps its worker slot until it
    #: returns, and its late value is recorded.
    handles_timeouts: bool = False
    #: Whether ``RunningJob.started_at`` is set when (soon after) a job really starts, so that
    #: ``None`` means "still queued": the runtime then counts a job timeout only from the
    #: job's real start, never from its submission (a job queued behind busy slots of a smaller
    #: pool is never "timed out" before it ran). If ``False``, it counts from ``started_at``
    #: where set, else from the submission.
    reports_starts: bool = False
    #: Whether the runtime may complete a job and hand out the next one on the thread that
    #: resolved the job's future (its own worker thread), instead of waking the loop thread:
    #: one thread handoff less per job. Only for executors whose done callbacks run on their
    #: own worker threads and whose ``submit`` may be called from there (the thread executor).
    inline_completion: bool = False

    def check_objective(self, objective: Any) -> None:
        """Raise a clear error now if this executor cannot run ``objective`` (called when the
        search is built, before anything starts). The default checks that its signature fits
        one of the three objective forms."""
        objective_form(objective)

    def check_n_workers(self, n_workers: int) -> int:
        """Return ``n_workers`` if this executor can run that many jobs at once, else raise
        :class:`~asha_nb.errors.InvalidParameterError` (or ``InvalidTypeError``) naming the
        allowed range. Called when the search is built and before ``set_n_workers`` changes
        anything; the default accepts any int >= 1."""
        return check_n_workers(n_workers)

    @abc.abstractmethod
    def start(self, objective: Any, n_workers: int) -> None:
        """Prepare to run ``objective`` on ``n_workers`` workers."""

    @abc.abstractmethod
    def submit(self, spec: JobSpec) -> RunningJob:
        """Start a job; never blocks on the job itself."""

    @abc.abstractmethod
    def stop_job(self, running: RunningJob) -> None:
        """Stop a job: cancel it if queued, kill it if the executor can, and always set its
        cooperative stop flag (``trial.should_stop()`` becomes ``True``)."""

    def drain_reports(self) -> list[IntermediateReport]:
        """Intermediate reports received since the last call (may be empty)."""
        return []

    def resize(self, n_workers: int) -> None:
        """Change the number of workers (the runtime never has more jobs than workers out)."""
        return None

    def caught_up(self, n_seen: int) -> None:
        """A hint from the runtime's loop thread: it has taken in ``n_seen`` of this
        executor's resolved futures since :meth:`start` and submitted every job it has for
        now. The default does nothing; the batched executor stops waiting for submissions
        once the runtime has reacted to all the jobs it finished."""
        return None

    @abc.abstractmethod
    def shutdown(self, wait: bool = False) -> None:
        """Release workers; jobs still running are stopped."""
