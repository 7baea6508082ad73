"""In a notebook kernel, start() imports the dashboard's libraries before trials run (import race)."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import sys, types, json
if {kernel}:
    sys.modules["ipykernel"] = types.ModuleType("ipykernel")
from asha_nb import space
from asha_nb.runtime import Search
s = Search(lambda c, r: c["x"], {{"x": space.uniform(0, 1)}}, max_trials=3, max_resource=3,
           progress=False)
before = "altair" in sys.modules
s.start(); s.wait(30)
print(json.dumps([before, "altair" in sys.modules, "narwhals" in sys.modules]))
"""


def run(kernel: bool) -> list[bool]:
    out = subprocess.run([sys.executable, "-c", CODE.format(kernel=kernel)], capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_start_preloads_view_libraries_in_a_kernel():
    assert run(True) == [False, True, True]


def test_start_stays_light_outside_a_kernel():
    assert run(False) == [False, False, False]
