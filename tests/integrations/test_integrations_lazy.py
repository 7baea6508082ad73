"""Import costs and the one examples module.

Importing asha_nb, its executors, the integration modules or the examples must not import jax,
torch or scikit-learn; the demo, the notebooks and the benchmark take the digits models from
``asha_nb.examples``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asha_nb.demo
import asha_nb.examples

ROOT = Path(__file__).resolve().parents[2]


def test_no_jax_torch_or_sklearn_on_import():
    code = (
        "import sys, asha_nb, asha_nb.executors, asha_nb.executors.batched, asha_nb.examples, "
        "asha_nb.integrations, asha_nb.integrations.jax, asha_nb.integrations.torch\n"
        "print(sorted(m for m in ('jax', 'torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_demo_uses_the_examples_objective():
    assert asha_nb.demo.digits_objective is asha_nb.examples.digits_objective
    assert "digits_objective" not in asha_nb.demo.__all__  # it lives in asha_nb.examples


def _code_cells(name: str) -> str:
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_notebooks_and_benchmark_use_the_examples_module():
    assert "from asha_nb.examples import digits_data" in _code_cells("04_torch_digits.ipynb")
    nb05 = _code_cells("05_jax_batched.ipynb")
    assert "from asha_nb.examples import digits_mlp" in nb05
    assert "BatchedExecutor" in nb05 and "jax_batched" not in nb05
    bench = (ROOT / "benchmarks" / "bench_batched.py").read_text()
    assert "from asha_nb.examples import" in bench
    for text in (nb05, _code_cells("04_torch_digits.ipynb"), bench):
        assert "load_digits" not in text  # the data comes from asha_nb.examples.digits_data
