"""Batched vs per-trial training on one ASHA search over digits (a script, not a test).

Runs the same ASHA search (same space and seed, so the same configurations) several ways and
prints model-epochs per second (epochs actually trained, i.e. ``resource - resume_from`` summed
over jobs, divided by the search's wall time) side by side, as ratios to per-trial torch:

- torch per trial on a thread pool (``ThreadExecutor``, intra-op threads capped): the reference;
- torch.func batched (``BatchedTorchModel`` on the ``BatchedExecutor``);
- JAX batched (``digits_mlp`` on the ``BatchedExecutor``, vmapped batches sharded over fake CPU
  devices), three ways:

  * **cold**: a new process with an empty JAX compilation cache (a first run),
  * **re-run**: another new process with the cache the cold run filled (a notebook re-run,
    a restarted kernel),
  * **warm**: the cold process's second search (programs already in memory);

- JAX batched cold and warm with eager compaction (``compact_after=0``: every smaller bucket is
  compiled as soon as the rows fit, the policy before the compile-cost rule);
- JAX per trial on a thread pool (the ``BatchedModel`` as a checkpoint objective).

Every JAX run happens in a child process whose compilation cache is a temporary folder (deleted
at the end; the user's cache is never touched). Times cover the search only: imports and data
loading are excluded for every backend (the JAX processes' import + model set-up time is
printed as a note). Plus the engine's overhead against a bare hand-written ``jit(vmap(epoch))``
loop on the same K rows (target <= 10 %).

Usage::

    python benchmarks/bench_batched.py            # K=64, 256 trials, R=27
    python benchmarks/bench_batched.py --quick    # CI size
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small CI-size run")
    p.add_argument("--workers", type=int, default=None, help="batch capacity K (default 64; quick 16)")
    p.add_argument("--trials", type=int, default=None, help="ASHA max_trials (default 256; quick 32)")
    p.add_argument("--max-resource", type=int, default=None, help="R in epochs (default 27; quick 9)")
    p.add_argument("--devices", type=int, default=2, help="fake CPU devices for JAX sharding")
    p.add_argument("--threads", type=int, default=2, help="per-trial thread-pool workers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=None, help="cold/re-run/warm rounds (default 5; quick 1)")
    p.add_argument("--child", choices=["cold", "rerun", "eager", "extras"], help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.k = args.workers or (16 if args.quick else 64)
    args.n_trials = args.trials or (32 if args.quick else 256)
    args.rmax = args.max_resource or (9 if args.quick else 27)
    args.rounds = args.rounds or (1 if args.quick else 5)
    return args


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
                value = out.value[0] if isinstance(out.value, tuple) else out.value
                ckpts[job.trial_id] = out.checkpoint
                epochs += int(job.resource - job.resume_from)
                sched.report(job, float(value))
    finally:
        executor.shutdown(wait=True)
    return epochs, time.perf_counter() - t0


def _sched(args: argparse.Namespace, space: Any) -> Any:
    from asha_nb import ASHA

    return ASHA(space, min_resource=1, max_resource=args.rmax, reduction_factor=3,
                max_trials=args.n_trials, seed=args.seed)


def bare_overhead(model: Any, k: int, epochs: int, repeats: int = 3) -> tuple[float, float]:
    """Model-epochs/s of a hand-written jit(vmap) loop and of the engine on the same K rows."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    cfgs = [{"lr": 0.05 + 0.001 * i, "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
            for i in range(k)]
    static = {"width": 64}
    dyn = {n: np.asarray([c[n] for c in cfgs], np.float32) for n in model.dynamic}
    base = jax.random.PRNGKey(model.seed)
    keys = jax.vmap(lambda t: jax.random.fold_in(base, t))(np.arange(k, dtype=np.int32))
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


def child(args: argparse.Namespace) -> None:
    """One JAX process: print a JSON line of results."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.devices}").strip()
    os.environ["ASHA_NB_JAX_CACHE_DIR"] = args.cache
    t0 = time.perf_counter()
    import jax

    from asha_nb.examples import digits_mlp
    from asha_nb.executors import BatchedExecutor

    model, space = digits_mlp()
    res: dict[str, Any] = {"setup_s": time.perf_counter() - t0, "devices": len(jax.local_devices())}
    options = {"compact_after": 0.0} if args.child == "eager" else {}

    def search(name: str) -> None:
        n0, h0, c0 = model.n_compiles, model.n_cache_hits, model.compile_seconds
        ex = BatchedExecutor(**options)
        e, t = drive(ex, model, _sched(args, space), args.k)
        res[name] = {"epochs": e, "seconds": t, "compiles": model.n_compiles - n0,
                     "hits": model.n_cache_hits - h0, "compile_s": model.compile_seconds - c0,
                     "buckets": list(ex.engine.buckets_used)}

    if args.child == "extras":
        from asha_nb.executors.thread import ThreadExecutor

        e, t = drive(ThreadExecutor(), model, _sched(args, space), args.threads)
        res["per_trial"] = {"epochs": e, "seconds": t}
        res["bare"], res["engine"] = bare_overhead(model, args.k, 3 if args.quick else 5, repeats=5)
    else:
        search("first")
        if args.child in ("cold", "eager"):
            search("warm")
    print(json.dumps(res))


def _spawn(args: argparse.Namespace, mode: str, cache: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--cache", cache,
           "--workers", str(args.k), "--trials", str(args.n_trials),
           "--max-resource", str(args.rmax), "--devices", str(args.devices),
           "--threads", str(args.threads), "--seed", str(args.seed)] + (["--quick"] if args.quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def main() -> None:
    args = _parse()
    if args.child:
        child(args)
        return
    from asha_nb.examples import mlp_space, torch_digits_batched, torch_digits_objective
    from asha_nb.executors import BatchedExecutor
    from asha_nb.executors.thread import ThreadExecutor

    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    tobj, tspace = torch_digits_objective()
    rounds: list[dict[str, Any]] = []
    caches: list[str] = []
    try:
        # each round: the reference, then a cold process (empty cache) and a re-run process
        for _ in range(args.rounds):
            e, t = drive(ThreadExecutor(), tobj, _sched(args, tspace), args.threads)
            caches.append(tempfile.mkdtemp(prefix="asha_nb_bench_jax_cache_"))
            cold = _spawn(args, "cold", caches[-1])
            rerun = _spawn(args, "rerun", caches[-1])
            rounds.append({"ref": (e, t), "cold": cold, "rerun": rerun,
                           "files": len(os.listdir(caches[-1]))})
        tm = torch_digits_batched()
        tf_e, tf_t = drive(BatchedExecutor(tm), tm, _sched(args, mlp_space()), args.k)
        caches.append(tempfile.mkdtemp(prefix="asha_nb_bench_jax_cache_"))
        eager = _spawn(args, "eager", caches[-1])
        extras = _spawn(args, "extras", caches[0])
    finally:
        for c in caches:
            shutil.rmtree(c, ignore_errors=True)

    ref_rates = [r["ref"][0] / r["ref"][1] for r in rounds]
    ref_rate = _median(ref_rates)

    def rate(res: dict[str, Any]) -> float:
        return res["epochs"] / res["seconds"]

    def note(res: dict[str, Any]) -> str:
        return (f"{res['compiles']} compiled, {res['hits']} from cache ({res['compile_s']:.1f} s), "
                f"buckets {res['buckets']}")

    # rows: (name, model-epochs, seconds, ratios against the reference of the same round, note)
    rows: list[tuple[str, int, float, list[float], str]] = []
    for name, get in (("JAX batched, cold (new process)", lambda r: r["cold"]["first"]),
                      ("JAX batched, re-run (new process)", lambda r: r["rerun"]["first"]),
                      ("JAX batched, warm (same process)", lambda r: r["cold"]["warm"])):
        res = [get(r) for r in rounds]
        ratios = [rate(x) / rr for x, rr in zip(res, ref_rates)]
        mid = sorted(range(len(res)), key=lambda i: ratios[i])[len(res) // 2]
        rows.append((name, res[mid]["epochs"], res[mid]["seconds"], ratios, note(res[mid])))
    ref_mid = sorted(range(len(rounds)), key=lambda i: ref_rates[i])[len(rounds) // 2]
    rows.insert(0, (f"torch per trial, {args.threads} threads", rounds[ref_mid]["ref"][0],
                    rounds[ref_mid]["ref"][1], [1.0] * len(rounds), "intra-op threads capped"))
    once = [
        ("torch.func batched", tf_e, tf_t, "eager torch, no compile"),
        ("JAX batched eager compaction, cold", eager["first"]["epochs"], eager["first"]["seconds"],
         note(eager["first"])),
        ("JAX batched eager compaction, warm", eager["warm"]["epochs"], eager["warm"]["seconds"],
         note(eager["warm"])),
        (f"JAX per trial, {args.threads} threads", extras["per_trial"]["epochs"],
         extras["per_trial"]["seconds"], "BatchedModel as a checkpoint objective"),
    ]
    rows += [(n, e, t, [e / t / ref_rate], x) for n, e, t, x in once]

    print(f"\nASHA on digits: {args.n_trials} trials, r=1, R={args.rmax}, eta=3, seed={args.seed}; "
          f"K={args.k}; jax devices={rounds[0]['cold']['devices']}; cores={os.cpu_count()}; "
          f"{args.rounds} rounds")
    print(f"{'backend':38s} {'model-epochs':>12s} {'search s':>9s} {'epochs/s':>9s} "
          f"{'vs ref':>7s} {'(range)':>13s}  notes")
    for name, e, t, ratios, extra in rows:
        spread = f"({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        print(f"{name:38s} {e:12d} {t:9.2f} {e / t:9.1f} {_median(ratios):6.2f}x {spread:>13s}  {extra}")
    print("\nvs ref: median over the rounds of the ratio to per-trial torch in the same round "
          "(single runs: against the median reference); search times of the median round.")
    setup = [r["cold"]["setup_s"] for r in rounds] + [r["rerun"]["setup_s"] for r in rounds]
    print(f"JAX processes: import + model set-up {min(setup):.2f}-{max(setup):.2f} s, not in the "
          f"search times; {rounds[0]['files']} files in the compilation cache after a re-run")
    bare, engine = extras["bare"], extras["engine"]
    print(f"engine overhead vs bare jit(vmap) loop at K={args.k}: bare {bare:.1f}, engine "
          f"{engine:.1f} model-epochs/s -> overhead {100 * (bare / engine - 1):+.1f} % (target <= 10 %)")
    print(f"benchmark total {time.perf_counter() - t_start:.0f} s; 1-minute load average "
          f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other processes "
          "on the machine make the rounds differ)")


if __name__ == "__main__":
    main()
