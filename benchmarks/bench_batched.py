"""Batched vs per-trial training on one ASHA search over digits (a script, not a test).

Runs the same ASHA search (same space, seed and so the same configurations) four ways and
prints model-epochs per second (epochs actually trained, i.e. ``resource - resume_from`` summed
over jobs, divided by wall time), all in one process, side by side:

(a) JAX batched backend (``JaxBatchExecutor``, vmapped batches sharded across local devices),
    cold (compiles included) and warm (second run, compiled programs cached);
(b) torch.func batched (``BatchedTorchModel`` on the same executor);
(c) per-trial torch jobs on a thread pool (``ThreadExecutor``, intra-op threads capped);
(d) per-trial JAX jobs on a thread pool (``BatchedModel`` used as a checkpoint objective).

Plus the batched engine's overhead against a bare hand-written ``jit(vmap(epoch))`` loop on the
same K rows (target <= 10 %).

Usage::

    python benchmarks/bench_batched.py            # K=64, 256 trials, R=27
    python benchmarks/bench_batched.py --quick    # CI size
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import sys
import time
from typing import Any


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small CI-size run")
    p.add_argument("--workers", type=int, default=None, help="batch capacity K (default 64; quick 16)")
    p.add_argument("--trials", type=int, default=None, help="ASHA max_trials (default 256; quick 32)")
    p.add_argument("--max-resource", type=int, default=None, help="R in epochs (default 27; quick 9)")
    p.add_argument("--devices", type=int, default=2, help="fake CPU devices for JAX sharding")
    p.add_argument("--threads", type=int, default=2, help="per-trial thread-pool workers")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def drive(executor: Any, objective: Any, sched: Any, n_workers: int) -> tuple[int, float]:
    """Run an ASHA search through the executor contract; return (model-epochs, seconds)."""
    from asha_nb.executors import JobSpec

    executor.start(objective, n_workers)
    inflight: dict[Any, Any] = {}
    ckpts: dict[int, Any] = {}
    epochs = 0
    t0 = time.perf_counter()
    try:
        while not sched.is_finished:
            while len(inflight) < n_workers:
                job = sched.next_job()
                if job is None:
                    break
                ck = ckpts.get(job.trial_id) if job.resume_from > 0 else None
                spec = JobSpec(job.job_id, job.trial_id, dict(job.config), job.rung,
                               job.resource, job.resume_from, ck)
                inflight[executor.submit(spec).future] = job
            done, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                job = inflight.pop(fut)
                out = fut.result()
                if out.error is not None:
                    raise RuntimeError(out.error)
                value = out.value
                if isinstance(value, tuple):
                    value = value[0]
                ckpts[job.trial_id] = out.checkpoint
                epochs += int(job.resource - job.resume_from)
                sched.report(job, float(value))
    finally:
        executor.shutdown(wait=True)
    return epochs, time.perf_counter() - t0


def bare_overhead(model: Any, k: int, epochs: int, repeats: int = 3) -> tuple[float, float]:
    """Model-epochs/s of a hand-written jit(vmap) loop and of the engine on the same K rows."""
    import jax
    import numpy as np

    cfgs = [{"lr": 0.05 + 0.001 * i, "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
            for i in range(k)]
    static = {"width": 64}
    dyn = {n: np.asarray([c[n] for c in cfgs], np.float32) for n in model.dynamic}
    base = jax.random.PRNGKey(model.seed)
    keys = jax.vmap(lambda t: jax.random.fold_in(base, t))(np.arange(k, dtype=np.int32))
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.local_devices()), ("k",))
    rows_sh, repl = NamedSharding(mesh, PartitionSpec("k")), NamedSharding(mesh, PartitionSpec())

    @jax.jit
    def train_eval(keys: Any, dyn: Any, data: Any) -> Any:  # best hand-written: one dispatch
        s = jax.vmap(lambda key, d: model.init(key, {**static, **d}))(keys, dyn)
        step = jax.vmap(lambda s1, d: model.train_epoch(s1, {**static, **d}, data))
        s = jax.lax.fori_loop(0, epochs, lambda _, s1: step(s1, dyn), s)
        return s, jax.vmap(model.evaluate, in_axes=(0, None))(s, data)

    data = jax.device_put(model.data, repl)
    keys, dyn = jax.device_put((keys, dyn), rows_sh)

    def bare() -> None:
        s, v = train_eval(keys, dyn, data)
        jax.tree.map(np.asarray, s)  # the engine also brings finished rows to the host
        np.asarray(v)

    def engine() -> None:
        eng = model.engine(k)
        for i, c in enumerate(cfgs):
            eng.add(i, i, c, epochs)
        eng.run()

    out = []
    for fn in (bare, engine):
        fn()  # compile
        best = min(_timed(fn) for _ in range(repeats))
        out.append(k * epochs / best)
    return out[0], out[1]


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    args = _parse()
    k = args.workers or (16 if args.quick else 64)
    trials = args.trials or (32 if args.quick else 256)
    rmax = args.max_resource or (9 if args.quick else 27)
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + f" --xla_force_host_platform_device_count={args.devices}").strip()
    import jax

    from asha_nb import ASHA
    from asha_nb.executors.jax_batched import JaxBatchExecutor
    from asha_nb.executors.thread import ThreadExecutor
    from asha_nb.integrations.jax import digits_mlp
    from asha_nb.integrations.torch import digits_batched, digits_objective

    model, space = digits_mlp()
    _, tspace = digits_objective()

    def sched() -> ASHA:
        return ASHA(space, min_resource=1, max_resource=rmax, reduction_factor=3,
                    max_trials=trials, seed=args.seed)

    rows: list[tuple[str, int, float, str]] = []

    ex = JaxBatchExecutor()
    e, t = drive(ex, model, sched(), k)
    rows.append(("(a) JAX batched, cold", e, t, f"{model.n_compiles} compiles, buckets {ex.engine.buckets}"))
    n0 = model.n_compiles
    ex = JaxBatchExecutor()
    e, t = drive(ex, model, sched(), k)
    rows.append(("(a) JAX batched, warm", e, t, f"{model.n_compiles - n0} new compiles"))

    tm = digits_batched()
    e, t = drive(JaxBatchExecutor(tm), tm, sched(), k)
    rows.append(("(b) torch.func batched", e, t, "eager, no compile"))

    tobj, _ = digits_objective()
    e, t = drive(ThreadExecutor(), tobj, sched(), args.threads)
    rows.append((f"(c) torch per-trial, {args.threads} threads", e, t, "intra-op threads capped"))

    e, t = drive(ThreadExecutor(), model, sched(), args.threads)
    rows.append((f"(d) JAX per-trial, {args.threads} threads", e, t,
                 f"{model.n_single_compiles} single-config compiles"))

    bare, engine = bare_overhead(model, k, 3 if args.quick else 5)

    print(f"\nASHA on digits: {trials} trials, r=1, R={rmax}, eta=3, seed={args.seed}; K={k}; "
          f"jax devices={len(jax.local_devices())}; cores={os.cpu_count()}")
    print(f"{'backend':36s} {'model-epochs':>12s} {'wall s':>8s} {'epochs/s':>9s}  notes")
    rates = {}
    for name, e, t, note in rows:
        rates[name] = e / t
        print(f"{name:36s} {e:12d} {t:8.2f} {e / t:9.1f}  {note}")
    ref = rates[f"(c) torch per-trial, {args.threads} threads"]
    print("\nratios against (c) torch per-trial:")
    for name, r in rates.items():
        print(f"  {name:36s} {r / ref:6.2f}x")
    print(f"\nengine overhead vs bare jit(vmap) loop at K={k}: bare {bare:.1f}, engine {engine:.1f} "
          f"model-epochs/s -> overhead {100 * (bare / engine - 1):+.1f} % (target <= 10 %)")


if __name__ == "__main__":
    main()
