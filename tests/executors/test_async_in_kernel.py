"""``async def`` objectives run from a real Jupyter kernel, whose event loop runs in the main
thread while cells execute (issue 10 item 11): on trial threads, and called directly in a cell."""

from __future__ import annotations

import json

from jupyter_client.manager import start_new_kernel

CELL = """
import asyncio, json, threading
from asha_nb.executors import JobSpec, ThreadExecutor
from asha_nb.executors._worker import run_job

async def objective(config, resource):
    await asyncio.sleep(0.01)
    return [config["x"] * resource, threading.current_thread().name]

kernel_loop = asyncio.get_running_loop() is not None  # cells run inside the kernel's loop
ex = ThreadExecutor(limit_threads=False)
ex.start(objective, 2)
jobs = [ex.submit(JobSpec(j, j, {"x": float(j)}, rung=0, resource=2, resume_from=0))
        for j in range(3)]
awaited = [(await asyncio.wrap_future(job.future)).value for job in jobs]
blocking = ex.submit(JobSpec(9, 9, {"x": 1.0}, rung=0, resource=3, resume_from=0)
                     ).future.result(timeout=30).value
ex.shutdown(wait=True)
direct = run_job(objective, JobSpec(10, 10, {"x": 5.0}, rung=0, resource=1, resume_from=0))
print(json.dumps({"loop": kernel_loop, "awaited": awaited, "blocking": blocking,
                  "direct": direct.value, "error": direct.error}))
"""


def test_async_objectives_run_while_the_kernel_loop_runs():
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    out: list[str] = []
    errors: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    try:
        reply = kc.execute_interactive(CELL, timeout=120, output_hook=hook)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", errors
    result = json.loads("".join(out).strip().splitlines()[-1])
    assert result["loop"] is True
    assert [value for value, _ in result["awaited"]] == [0.0, 2.0, 4.0]
    assert all(name.startswith("asha-trial") for _, name in result["awaited"])
    assert result["blocking"][0] == 3.0
    assert result["error"] is None
    assert result["direct"] == [5.0, "asha-async-objective"]  # a helper thread, not the loop's
