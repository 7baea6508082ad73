"""JAX tests run on 4 fake CPU devices, with JAX's compilation cache in a temporary folder.

The device flag must be set before JAX starts its backend. The cache folder keeps the tests off
the user's cache (``~/.cache/asha_nb/jax``); it lives as long as the test session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

if "jax" not in sys.modules:
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=4").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

if "ASHA_NB_JAX_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="asha_nb_test_jax_cache_")
    os.environ["ASHA_NB_JAX_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)
