"""A missing optional dependency is a clear MissingExtraError naming what to install."""

from __future__ import annotations

import sys

import pytest

from asha_nb.errors import MissingExtraError, import_extra


def test_import_extra_returns_the_module():
    import json

    assert import_extra("json", "none") is json


def test_a_missing_module_names_the_extra_and_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # as if it were not installed
    from asha_nb.viz import export

    with pytest.raises(MissingExtraError, match=r'pip install "asha_nb\[widgets\]"') as info:
        export._vl_convert()
    assert (info.value.extra, info.value.package) == ("widgets", "vl-convert-python")
    assert isinstance(info.value, ImportError)


def test_the_package_defaults_to_the_module_name():
    with pytest.raises(MissingExtraError) as info:
        import_extra("asha_nb_no_such_module", "jax")
    assert info.value.package == "asha_nb_no_such_module"
