"""Regenerate ``e2e_dashboard.ipynb`` (the fixture of test_e2e.py): ``python make_notebook.py``."""

from __future__ import annotations

from pathlib import Path

import nbformat

CELLS = [
    """import time

from asha_nb import space
from asha_nb.runtime import Search
from asha_nb.widgets import Dashboard


def objective(config, resource):
    time.sleep(0.02 * resource)           # slow enough to watch, fast enough to test
    if config["dropout"] > 0.47:
        raise ValueError("dropout too high")  # a few failures: shown in red
    return config["lr"] * resource / (1 + config["dropout"])


search = Search(objective, {"lr": space.loguniform(1e-3, 1.0), "dropout": space.uniform(0, 0.5),
                            "width": space.choice([32, 64, 128])},
                n_workers=4, max_resource=27, reduction_factor=3, seed=0, time_budget=90,
                progress=False)""",
    """dash = Dashboard(search)
search.start()
dash""",
]


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nbformat.write(nb, Path(__file__).with_name("e2e_dashboard.ipynb"))


if __name__ == "__main__":
    main()
