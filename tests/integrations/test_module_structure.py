"""The integrations package stays in small modules that import one another in one direction."""

from __future__ import annotations

import pathlib

import grimp

import asha_nb.integrations

PACKAGE = pathlib.Path(asha_nb.integrations.__file__).parent


def test_no_integration_module_is_over_500_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 500} == {}


def test_integration_modules_import_each_other_in_one_direction():
    graph = grimp.build_graph("asha_nb")
    mods = sorted(m for m in graph.modules if m.startswith("asha_nb.integrations."))
    cycles = [(a, b) for a in mods for b in mods if a < b
              and graph.chain_exists(importer=a, imported=b)
              and graph.chain_exists(importer=b, imported=a)]
    assert cycles == []
    # the model builds the engine; the engine knows the model only through what it calls
    assert graph.chain_exists(importer="asha_nb.integrations._jax_model",
                              imported="asha_nb.integrations._jax_engine")
