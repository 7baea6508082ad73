"""Subprocess bodies of the journal tests (lock, objective fingerprint, concurrent creation).

``python _journal_worker.py COMMAND ARGS...`` (the tests run :data:`COMMAND`, which imports it):

``hold JOURNAL READY [fork]``
    Start a slow journaled search, write ``{"pid": ..., "child": ...}`` to READY once it runs,
    and keep running until killed. With ``fork``, first fork a child that inherits every open
    descriptor (the journal's, its lock file's) and sleeps: a worker that outlives its parent.
``create JOURNAL GO OUT``
    Write OUT.waiting, wait until the file GO exists (so two processes start together), then
    build and run a small journaled search on JOURNAL; write ``{"ok": true}`` or the error's
    class and message to OUT.
``first JOURNAL CREATED RELEASE OUT`` / ``second JOURNAL CREATED OUT``
    The lock without a race: ``first`` builds a journaled search, writes CREATED, waits for
    RELEASE, then runs it; ``second`` waits for CREATED, then tries to build a search on the same
    journal (while ``first`` holds it). Each writes its outcome to OUT.
``fresh JOURNAL OUT`` / ``resume JOURNAL OUT`` / ``other JOURNAL OUT``
    A journaled search that stops after 6 jobs; its resume with the same objective (a new
    process, as after a kernel restart); a resume with another objective. OUT gets the result.
``ipython JOURNAL OUT fresh|resume|changed``
    The same through an IPython shell: the objective is defined in a cell, as in a notebook.
"""

from __future__ import annotations

import json
import os
import sys
import time

from asha_nb import space
from asha_nb.runtime import Search

SPACE = {"x": space.uniform(0.0, 1.0)}
SMALL = dict(max_trials=9, max_resource=9, reduction_factor=3, seed=2, n_workers=2,
             progress=False)


def slow(config, resource):
    time.sleep(0.05)
    return config["x"] * resource


def objective(config, resource):
    return round(config["x"] * resource, 9)


def other_objective(config, resource):
    return -1000.0


def _write(out: str, payload: dict) -> None:
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, out)


def _outcome(fn) -> dict:
    try:
        s = fn()
    except Exception as exc:  # reported to the test
        return {"ok": False, "error": type(exc).__name__, "message": str(exc),
                "mro": [c.__name__ for c in type(exc).__mro__]}
    df = s.results()
    return {"ok": True, "state": str(s.state), "n_jobs": len(df),
            "values": sorted(float(v) for v in df.value.dropna())}


def hold(journal: str, ready: str, fork: bool) -> None:
    s = Search(slow, SPACE, journal=journal, max_trials=10_000, max_resource=9, seed=0,
               n_workers=1, progress=False)
    child = 0
    if fork:
        child = os.fork()
        if child == 0:  # inherits the journal's and the lock file's descriptors
            time.sleep(120)
            os._exit(0)
    s.start()
    _write(ready, {"pid": os.getpid(), "child": child})
    s.wait()


def create(journal: str, go: str, out: str) -> None:
    _write(out + ".waiting", {"pid": os.getpid()})  # at the barrier, asha_nb imported
    end = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < end:
        time.sleep(0.001)
    _write(out, _outcome(lambda: Search(slow, SPACE, journal=journal, **SMALL).run()))


def _wait_for(path: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.001)


def first(journal: str, created: str, release: str, out: str) -> None:
    def build_wait_run() -> Search:
        s = Search(slow, SPACE, journal=journal, **SMALL)  # takes the journal's lock
        _write(created, {"pid": os.getpid()})
        _wait_for(release)
        return s.run()

    _write(out, _outcome(build_wait_run))


def second(journal: str, created: str, out: str) -> None:
    _wait_for(created)
    _write(out, _outcome(lambda: Search(slow, SPACE, journal=journal, **SMALL).run()))


IPY_CELL = '''
def objective(config, resource):
    return round(config["x"] * resource, 9)
'''
IPY_CHANGED = '''
def objective(config, resource):
    return round(config["x"] * resource, 9) - 1000
'''


def ipython(journal: str, out: str, mode: str) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert shell.run_cell(IPY_CHANGED if mode == "changed" else IPY_CELL).success
    shell.user_ns.update(Search=Search, SPACE=SPACE, SMALL=SMALL, journal=journal)
    if mode == "fresh":
        code = "s = Search(objective, SPACE, journal=journal, max_jobs=6, **SMALL).run()"
    else:
        code = "s = Search.from_journal(journal, objective, max_jobs=None).run()"
    result = shell.run_cell(code)
    if result.error_in_exec is not None:
        exc = result.error_in_exec
        _write(out, {"ok": False, "error": type(exc).__name__, "message": str(exc)})
    else:
        _write(out, _outcome(lambda: shell.user_ns["s"]))


def main(argv: list[str]) -> None:
    cmd, args = argv[0], argv[1:]
    if cmd == "hold":
        hold(args[0], args[1], len(args) > 2 and args[2] == "fork")
    elif cmd == "create":
        create(*args)
    elif cmd == "first":
        first(*args)
    elif cmd == "second":
        second(*args)
    elif cmd == "fresh":
        _write(args[1], _outcome(lambda: Search(objective, SPACE, journal=args[0], max_jobs=6,
                                                **SMALL).run()))
    elif cmd == "resume":
        _write(args[1], _outcome(
            lambda: Search.from_journal(args[0], objective, max_jobs=None).run()))
    elif cmd == "other":
        _write(args[1], _outcome(
            lambda: Search.from_journal(args[0], other_objective, max_jobs=None).run()))
    elif cmd == "ipython":
        ipython(*args)
    else:
        raise SystemExit(f"unknown command {cmd!r}")


#: How the tests run it: imported as ``_journal_worker`` (not ``__main__``), so its objectives
#: have the same qualified names in the test process and in the subprocesses.
COMMAND = [sys.executable, "-c", "import sys, _journal_worker; _journal_worker.main(sys.argv[1:])"]

if __name__ == "__main__":
    main(sys.argv[1:])
