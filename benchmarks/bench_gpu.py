"""The GPU table of batched trials (issue 14); on a CPU it runs with small K.

Workload of ``bench_batched``: the digits MLP (``asha_nb.examples.digits_mlp``, 64->64->10,
SGD + momentum, 11 minibatches of 128 per epoch), ASHA r=1, R=27, eta=3, N = 4K trials.
Printed, with the device name and count:

- whether rows promoted from device checkpoints continue bit-for-bit (``continuation_check``);
- the whole ASHA search (``Search(model, executor="batched", n_workers=K)``), cold (first search
  at this K: its programs are in neither memory nor the compilation cache, a temporary folder)
  and warm (the second search), model-epochs/s;
- warm, the executor's options side by side: the queue (``BatchedExecutor(batch_size=K)``
  with 2K jobs in flight), one chunk at a time (``pipeline_depth=1``), training blocks of K/8
  rows (``train_block``; the default on a GPU is one block of the whole batch);
- the engine on one full batch of K rows for R epochs, and a bare ``jit(vmap(epoch))`` loop on
  the same rows (the ceiling), and their ratio;
- per-trial torch on the same device (``torch_digits_objective(device=...)``, thread executor,
  1 and 8 workers);
- mixed widths 64/256/1024 (3 static groups) at the largest K, warm, against the single-width
  search.

Usage (from the project root; ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` is set unless given, so
that torch can share the GPU)::

    python benchmarks/bench_gpu.py                 # K = 64,256,1024 on a GPU; 8,16,32 on a CPU
    python benchmarks/bench_gpu.py --ks 64,256     # other K
    python benchmarks/bench_batched.py --gpu       # the same
    python benchmarks/bench_gpu.py --out gpu.json --budget 420   # a lease of limited time

Each part (a search, the engine against the bare loop, per-trial torch, mixed widths) that
raises is reported with its traceback and the others still run; with ``--budget`` the parts
that would start later are skipped; ``--out`` is rewritten after every part (a run killed at
its time limit keeps what it measured), with each search's diagnostics (where the batching
thread's time went: ``executor.timings``, the engine's host and wait seconds, chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _epochs(search: Any) -> int:
    df = search.results()
    ok = df[df["status"].astype(str).str.lower().str.contains("ok")]
    return int((ok["resource"] - ok["resume_from"]).sum())


def _search(model: Any, space: Any, k: int, n: int, r: int, executor: Any = "batched",
            diag: dict[str, Any] | None = None) -> float:
    """Model-epochs/s of one ASHA search (``k`` jobs in flight); with ``diag``, the batched
    executor's and engine's counters of the search are stored in it (``bench_batched``'s
    ``_engine_run``: where the wall time went)."""
    from bench_batched import _engine_run

    from asha_nb import ASHA, Search

    sched = ASHA(space, min_resource=1, max_resource=r, reduction_factor=3, max_trials=n, seed=0)
    t = time.perf_counter()
    s = Search(model, scheduler=sched, executor=executor, n_workers=k, progress=False).run()
    seconds = time.perf_counter() - t
    epochs = _epochs(s)
    if diag is not None and hasattr(executor, "engine"):
        diag.update(_engine_run(executor, sched, epochs, seconds))
    return epochs / seconds


def _variants(k: int, n_dev: int) -> list[tuple[str, dict[str, Any], int]]:
    """The batched executor's options compared warm at batch capacity ``k``: (name,
    ``BatchedExecutor`` options, jobs in flight)."""
    block = max(n_dev, k // 8 // n_dev * n_dev)
    return [("queue", {"batch_size": k}, 2 * k),
            ("depth1", {"pipeline_depth": 1}, k),
            ("blocks", {"train_block": block}, k)]


class _Parts:
    """Runs the table's parts one by one: a part that raises is recorded (its traceback in
    ``out["errors"]``) and the next runs; once ``budget`` seconds have passed the remaining
    parts are skipped (``out["skipped"]``); ``out`` is written to ``path`` (JSON) after each."""

    def __init__(self, out: dict[str, Any], path: str | None, budget: float | None) -> None:
        self.out, self.path, self.budget = out, path, budget
        self.t0 = time.perf_counter()
        out.setdefault("errors", {})
        out.setdefault("skipped", [])

    def run(self, name: str, fn: Any) -> Any:
        elapsed = time.perf_counter() - self.t0
        if self.budget is not None and elapsed > self.budget:
            self.out["skipped"].append(name)
            print(f"{name}: skipped ({elapsed:.0f} s > budget {self.budget:.0f} s)", flush=True)
            return None
        try:
            return fn()
        except Exception:  # a part's failure is reported, not fatal
            self.out["errors"][name] = traceback.format_exc()
            print(f"{name}: FAILED\n{self.out['errors'][name]}", flush=True)
            return None
        finally:
            self.out["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
            self.save()

    def save(self) -> None:
        if self.path:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.out, f, indent=1, default=str)
            os.replace(tmp, self.path)


def _fmt(x: Any, spec: str = "10.0f") -> str:
    return f"{x:{spec}}" if isinstance(x, (int, float)) else f"{'-':>{spec.split('.')[0]}s}"


def continuation_check(model: Any, k: int, first: int = 3, more: int = 6) -> dict[str, Any]:
    """Are promoted rows bit-for-bit equal to rows trained straight on, on this device?

    ``k`` rows train ``first`` epochs; half of them go on for ``more`` from their device
    checkpoints, in the same engine; another engine trains the same rows ``first + more``
    epochs at once. Returns whether the values and every state leaf are equal, and the largest
    difference (on a CPU they are equal: the tests check it; GPU kernels may reduce in another
    order from run to run)."""
    import jax
    import numpy as np

    rng = np.random.default_rng(2)
    cfgs = [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": 64} for _ in range(k)]
    straight = model.engine(k)
    for i, c in enumerate(cfgs):
        straight.add(i, i, c, first + more)
    full = {f.key: f for f in straight.run()}
    eng = model.engine(k)
    for i, c in enumerate(cfgs):
        eng.add(("a", i), i, c, first)
    done = {f.key[1]: f for f in eng.run()}
    go_on = list(range(0, k, 2))
    for i in go_on:
        eng.add(("b", i), i, cfgs[i], more, done[i].checkpoint)
    second = {f.key[1]: f for f in eng.run()}
    diff, equal = 0.0, True
    for i in go_on:
        equal &= second[i].value == full[i].value
        for a, b in zip(jax.tree.leaves(second[i].checkpoint["state"]),
                        jax.tree.leaves(full[i].checkpoint["state"])):
            a, b = np.asarray(a), np.asarray(b)
            equal &= bool(np.array_equal(a, b))
            if a.dtype.kind == "f":
                diff = max(diff, float(np.max(np.abs(a - b))))
    values = max(abs(second[i].value - full[i].value) for i in go_on)
    return {"rows": len(go_on), "bit_for_bit": bool(equal), "max_state_diff": diff,
            "max_value_diff": float(values)}


def gpu_table(ks: str | None = None, r: int | None = None, torch_trials: int | None = None,
              out_path: str | None = None, budget: float | None = None) -> dict[str, Any]:
    """Measure and print the table; return its numbers (also written to ``out_path`` as JSON
    after each part, with each search's diagnostics under ``"diag"``; parts past ``budget``
    seconds are skipped, a part that fails is reported and the others still run)."""
    import jax
    import torch
    from bench_batched import bare_overhead

    from asha_nb.examples import digits_mlp, torch_digits_objective
    from asha_nb.executors import BatchedExecutor

    devices = jax.local_devices()
    on_gpu = jax.default_backend() == "gpu"
    k_list = [int(x) for x in ks.split(",")] if ks else ([64, 256, 1024] if on_gpu else [8, 16, 32])
    r = r or (27 if on_gpu else 9)
    tdev = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"devices: {len(devices)} x {devices[0].device_kind} ({jax.default_backend()}); "
          f"jax {jax.__version__}; torch {torch.__version__} on {tdev}"
          + ("" if tdev == "cpu" else f" ({torch.cuda.get_device_name(0)})"), flush=True)
    out: dict[str, Any] = {"ks": k_list, "r": r, "device": devices[0].device_kind,
                           "backend": jax.default_backend(), "n_devices": len(devices),
                           "jax": jax.__version__, "torch_version": torch.__version__, "torch_device": tdev,
                           "rows": {}, "diag": {}, "torch": {}}
    parts = _Parts(out, out_path, budget)
    cache = tempfile.mkdtemp(prefix="asha_nb_gpu_cache_")  # JAX's cache is process-wide
    preset = jax.config.jax_compilation_cache_dir  # set before (a test session): JAX keeps it
    out["compilation_cache"] = preset or cache
    if preset:
        print(f"JAX's compilation cache was already set ({preset}): cold searches may load "
              "their programs from it", flush=True)
    cache_opt = None if preset else cache  # a folder of our own would only be warned about
    out["continuation"] = parts.run("continuation", lambda: continuation_check(
        digits_mlp(compilation_cache=cache_opt)[0], k_list[0]))
    print(f"continuation from device checkpoints at K={k_list[0]}: {out['continuation']}",
          flush=True)

    def measure(k: int) -> None:  # each K has its own programs: its first search compiles them
        row: dict[str, Any] = out["rows"][k]
        model, space = digits_mlp(compilation_cache=cache_opt)

        def timed(name: str, jobs: int, opts: dict[str, Any], warm_up: bool = False) -> float:
            if warm_up:  # compile the variant's programs first
                _search(model, space, jobs, 4 * k, r, executor=BatchedExecutor(**opts))
            diag: dict[str, Any] = {}
            rate = _search(model, space, jobs, 4 * k, r, executor=BatchedExecutor(**opts),
                           diag=diag)
            out["diag"][f"K={k} {name}"] = diag
            return rate

        row["cold"] = parts.run(f"K={k} cold", lambda: timed("cold", k, {}))
        row["warm"] = parts.run(f"K={k} warm", lambda: timed("warm", k, {}))
        for name, opts, jobs in _variants(k, len(devices)):
            row[name] = parts.run(f"K={k} {name}", lambda name=name, opts=opts, jobs=jobs:
                                  timed(name, jobs, opts, warm_up=True))
        both = parts.run(f"K={k} engine/bare", lambda: bare_overhead(model, k, r))
        row["bare"], row["engine"] = both if both else (None, None)
        print(f"K={k}: search cold {_fmt(row['cold'], '.0f')}, warm {_fmt(row['warm'], '.0f')} "
              f"(queue {_fmt(row.get('queue'), '.0f')}, depth 1 {_fmt(row.get('depth1'), '.0f')}, "
              f"blocks {_fmt(row.get('blocks'), '.0f')}); engine {_fmt(row['engine'], '.0f')}, "
              f"bare {_fmt(row['bare'], '.0f')} model-epochs/s", flush=True)

    n_torch = torch_trials or (256 if on_gpu else 27)

    def torch_search(w: int) -> float:
        obj, tspace = torch_digits_objective(device=tdev)
        _search(obj, tspace, 1, 1, 1, executor="thread")  # warm-up: CUDA context, kernels
        return _search(obj, tspace, w, n_torch, r, executor="thread")

    def torch_rows() -> None:
        for w in (1, 8):
            out["torch"][w] = parts.run(f"torch {w} workers", lambda w=w: torch_search(w))
        print(f"torch per trial on {tdev}: {_fmt(out['torch'][1], '.0f')} (1 worker), "
              f"{_fmt(out['torch'][8], '.0f')} (8 workers) model-epochs/s", flush=True)

    kmax = k_list[-1]

    def mixed() -> float:
        m, mspace = digits_mlp(widths=(64, 256, 1024), compilation_cache=cache_opt)
        _search(m, mspace, kmax, 4 * kmax, r)
        diag: dict[str, Any] = {}
        rate = _search(m, mspace, kmax, 4 * kmax, r, executor=BatchedExecutor(), diag=diag)
        out["diag"][f"K={kmax} mixed"] = diag
        return rate

    # the targets' parts first (the largest K, torch, mixed widths), in case time runs out
    for k in k_list:
        out["rows"][k] = {}
    measure(kmax)
    torch_rows()
    out["mixed"] = parts.run("mixed widths", mixed)
    for k in sorted(k_list[:-1], reverse=True):
        measure(k)
    shutil.rmtree(cache, ignore_errors=True)

    rows = out["rows"]
    torch_rates = [v for v in out["torch"].values() if v]
    best_torch = max(torch_rates) if torch_rates else None
    print(f"\nASHA on digits, r=1, R={r}, eta=3, N=4K; {len(devices)} x {devices[0].device_kind}; "
          "model-epochs/s")
    print(f"{'':58s}" + "".join(f"{'K=' + str(k):>10s}" for k in k_list))
    lines = [("whole ASHA search, cold (first search, empty cache)", "cold"),
             ("whole ASHA search, warm (second search)", "warm"),
             ("  warm, queue: batch_size=K, 2K jobs in flight", "queue"),
             ("  warm, one chunk at a time (pipeline_depth=1)", "depth1"),
             ("  warm, train_block=K/8 (only live blocks train)", "blocks"),
             ("the engine alone on one full batch", "engine"),
             ("bare jit(vmap(epoch)) loop on the same rows (ceiling)", "bare")]
    for label, key in lines:
        print(f"{label:58s}" + "".join(_fmt(rows[k].get(key)) for k in k_list))

    def ratio(a: Any, b: Any) -> Any:
        return a / b if a and b else None

    print(f"{'engine / bare (target >= 0.7)':58s}"
          + "".join(_fmt(ratio(rows[k]["engine"], rows[k]["bare"]), "10.2f") for k in k_list))
    print(f"{'warm search / best per-trial torch (target >= 100)':58s}"
          + "".join(_fmt(ratio(rows[k]["warm"], best_torch), "10.1f") for k in k_list))
    print(f"per-trial torch on {tdev} (thread executor, 1 / 8 workers): "
          f"{_fmt(out['torch'][1], '.0f')} / {_fmt(out['torch'][8], '.0f')}")
    print(f"mixed widths 64/256/1024 (3 static groups), K={kmax}, warm: {_fmt(out['mixed'], '.0f')} "
          f"({_fmt(ratio(out['mixed'], rows[kmax].get('warm')), '.2f')}x the single-width search; "
          "target >= 0.5)")
    if out["errors"] or out["skipped"]:
        print(f"failed parts: {sorted(out['errors'])}; skipped (budget): {out['skipped']}")
    parts.save()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", help="comma-separated batch capacities K")
    p.add_argument("--max-resource", type=int, help="R (default 27 on a GPU, 9 on a CPU)")
    p.add_argument("--torch-trials", type=int, help="N of the per-trial torch searches")
    p.add_argument("--out", help="write the numbers (and each search's diagnostics) to this JSON "
                   "file, after every part")
    p.add_argument("--budget", type=float, help="skip the parts that would start after this many "
                   "seconds (a device lease's time limit)")
    a = p.parse_args()
    gpu_table(a.ks, a.max_resource, a.torch_trials, a.out, a.budget)


if __name__ == "__main__":
    main()
