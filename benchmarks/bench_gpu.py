"""The GPU table of batched trials (issue 14); on a CPU it runs with small K.

Workload of ``bench_batched``: the digits MLP (``asha_nb.examples.digits_mlp``, 64->64->10,
SGD + momentum, 11 minibatches of 128 per epoch), ASHA r=1, R=27, eta=3, N = 4K trials.
Printed, with the device name and count:

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
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _epochs(search: Any) -> int:
    df = search.results()
    ok = df[df["status"].astype(str).str.lower().str.contains("ok")]
    return int((ok["resource"] - ok["resume_from"]).sum())


def _search(model: Any, space: Any, k: int, n: int, r: int, executor: Any = "batched") -> float:
    """Model-epochs/s of one ASHA search (``k`` jobs in flight)."""
    from asha_nb import ASHA, Search

    sched = ASHA(space, min_resource=1, max_resource=r, reduction_factor=3, max_trials=n, seed=0)
    t = time.perf_counter()
    s = Search(model, scheduler=sched, executor=executor, n_workers=k, progress=False).run()
    return _epochs(s) / (time.perf_counter() - t)


def _variants(k: int, n_dev: int) -> list[tuple[str, dict[str, Any], int]]:
    """The batched executor's options compared warm at batch capacity ``k``: (name,
    ``BatchedExecutor`` options, jobs in flight)."""
    block = max(n_dev, k // 8 // n_dev * n_dev)
    return [("queue", {"batch_size": k}, 2 * k),
            ("depth1", {"pipeline_depth": 1}, k),
            ("blocks", {"train_block": block}, k)]


def gpu_table(ks: str | None = None, r: int | None = None, torch_trials: int | None = None) -> dict:
    """Measure and print the table; return its numbers."""
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
                           "n_devices": len(devices), "rows": {}}
    cache = tempfile.mkdtemp(prefix="asha_nb_gpu_cache_")  # JAX's cache is process-wide
    for k in k_list:  # each K has its own programs: its first search compiles them (cold)
        model, space = digits_mlp(compilation_cache=cache)
        cold = _search(model, space, k, 4 * k, r)
        warm = _search(model, space, k, 4 * k, r)
        row = {"cold": cold, "warm": warm}
        for name, opts, jobs in _variants(k, len(devices)):  # warm: programs compiled here
            _search(model, space, jobs, 4 * k, r, executor=BatchedExecutor(**opts))
            row[name] = _search(model, space, jobs, 4 * k, r, executor=BatchedExecutor(**opts))
        bare, engine = bare_overhead(model, k, r)
        out["rows"][k] = {**row, "engine": engine, "bare": bare}
        print(f"K={k}: search cold {cold:.0f}, warm {warm:.0f} (queue {row['queue']:.0f}, depth 1 "
              f"{row['depth1']:.0f}, blocks {row['blocks']:.0f}); engine {engine:.0f}, bare "
              f"{bare:.0f} model-epochs/s", flush=True)
    n_torch = torch_trials or (256 if on_gpu else 27)
    obj, tspace = torch_digits_objective(device=tdev)
    out["torch"] = {w: _search(obj, tspace, w, n_torch, r, executor="thread") for w in (1, 8)}
    print(f"torch per trial on {tdev}: {out['torch'][1]:.0f} (1 worker), "
          f"{out['torch'][8]:.0f} (8 workers) model-epochs/s", flush=True)
    kmax = k_list[-1]
    mixed, mspace = digits_mlp(widths=(64, 256, 1024), compilation_cache=cache)
    _search(mixed, mspace, kmax, 4 * kmax, r)
    out["mixed"] = _search(mixed, mspace, kmax, 4 * kmax, r)

    best_torch = max(out["torch"].values())
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
        print(f"{label:58s}" + "".join(f"{out['rows'][k][key]:10.0f}" for k in k_list))
    print(f"{'engine / bare (target >= 0.7)':58s}"
          + "".join(f"{out['rows'][k]['engine'] / out['rows'][k]['bare']:10.2f}" for k in k_list))
    print(f"{'warm search / best per-trial torch (target >= 100)':58s}"
          + "".join(f"{out['rows'][k]['warm'] / best_torch:10.1f}" for k in k_list))
    print(f"per-trial torch on {tdev} (thread executor, 1 / 8 workers): "
          f"{out['torch'][1]:.0f} / {out['torch'][8]:.0f}")
    single = out["rows"][kmax]["warm"]
    print(f"mixed widths 64/256/1024 (3 static groups), K={kmax}, warm: {out['mixed']:.0f} "
          f"({out['mixed'] / single:.2f}x the single-width search; target >= 0.5)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", help="comma-separated batch capacities K")
    p.add_argument("--max-resource", type=int, help="R (default 27 on a GPU, 9 on a CPU)")
    p.add_argument("--torch-trials", type=int, help="N of the per-trial torch searches")
    a = p.parse_args()
    gpu_table(a.ks, a.max_resource, a.torch_trials)


if __name__ == "__main__":
    main()
