"""The GPU benchmark's script runs, on a CPU, at a tiny size (issue 14).

A GPU is lent to a session for minutes at a time: the script that measures the GPU table must
not first fail there. These tests run it on the CPU (4 fake devices) and check what it records:
every part's number, a failing part reported while the others still run, the time budget, and
the JSON file written after each part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_gpu

    from asha_nb.integrations.jax import enable_compilation_cache

    # as in the whole test session, where an earlier test set JAX's (process-wide) cache: the
    # benchmark must then use it, not warn about its own folder (an error under pytest) and
    # leave a program pending that the next search waits for forever
    enable_compilation_cache()

    return bench_gpu


def test_the_table_at_a_tiny_size_with_a_failing_part(bench: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import bench_batched

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no bare loop today")

    monkeypatch.setattr(bench_batched, "bare_overhead", broken)
    path = tmp_path / "gpu.json"
    out = bench.gpu_table(ks="4", r=3, torch_trials=3, out_path=str(path))
    row = out["rows"][4]
    for key in ("cold", "warm", "queue", "depth1", "blocks"):
        assert row[key] > 0, key  # model-epochs/s of a search that ran
    assert row["engine"] is None and row["bare"] is None  # the failing part, and only it
    assert list(out["errors"]) == ["K=4 engine/bare"]
    assert "no bare loop today" in out["errors"]["K=4 engine/bare"]
    assert out["torch"][1] > 0 and out["torch"][8] > 0 and out["mixed"] > 0
    assert out["n_devices"] == 4 and out["backend"] == "cpu"
    assert out["continuation"] == {"rows": 2, "bit_for_bit": True, "max_state_diff": 0.0,
                                   "max_value_diff": 0.0}
    diag = out["diag"]["K=4 warm"]
    assert diag["jobs"] >= 4 and diag["epochs"] > 0 and diag["chunks"] >= 1
    saved = json.loads(path.read_text())
    assert saved["rows"]["4"]["warm"] == row["warm"] and "K=4 engine/bare" in saved["errors"]
    text = capsys.readouterr().out
    assert "K=4 engine/bare: FAILED" in text and "whole ASHA search, warm" in text


def test_parts_past_the_budget_are_skipped(bench: Any, tmp_path: Path) -> None:
    path = tmp_path / "gpu.json"
    out = bench.gpu_table(ks="4", r=3, torch_trials=3, out_path=str(path), budget=0.0)
    assert out["skipped"][:3] == ["continuation", "K=4 cold", "K=4 warm"]
    assert "mixed widths" in out["skipped"] and not out["errors"]
    assert out["rows"][4]["warm"] is None and out["mixed"] is None
    assert json.loads(path.read_text())["skipped"] == out["skipped"]
