"""Importing asha_nb, its executors and the integration modules must not import jax or torch."""

from __future__ import annotations

import subprocess
import sys


def test_no_jax_or_torch_on_import():
    code = (
        "import sys, asha_nb, asha_nb.executors, asha_nb.executors.jax_batched, "
        "asha_nb.integrations, asha_nb.integrations.jax, asha_nb.integrations.torch\n"
        "print(sorted(m for m in ('jax', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
