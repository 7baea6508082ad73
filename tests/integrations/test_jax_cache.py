"""JAX's persistent compilation cache: a second process loads the batched programs.

Each case runs a tiny batched search in a new Python process (JAX sets its cache up once per
process) with its own temporary folders, never the user's cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asha_nb.errors import InvalidTypeError
from asha_nb.integrations._jax_cache import TIMES_FILE, read_compile_seconds
from asha_nb.integrations.jax import CACHE_ENV_VAR, default_cache_dir, resolve_cache_dir

SCRIPT = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
from asha_nb.integrations.jax import BatchedModel

data = {"x": np.linspace(-1, 1, 16, dtype=np.float32), "y": np.linspace(0, 2, 16, dtype=np.float32)}

def init(key, hp):
    return {"w": jax.random.normal(key, (3,))}

def train_epoch(state, hp, data):
    feats = jnp.stack([data["x"] ** i for i in range(3)], 1)
    g = jax.grad(lambda w: jnp.mean((feats @ w - data["y"]) ** 2))(state["w"])
    return {"w": state["w"] - hp["lr"] * g}

def evaluate(state, data):
    feats = jnp.stack([data["x"] ** i for i in range(3)], 1)
    return -jnp.mean((feats @ state["w"] - data["y"]) ** 2)

model = BatchedModel(init, train_epoch, evaluate, data, dynamic=("lr",))
eng = model.engine(4, devices=jax.local_devices()[:1])
for i in range(3):
    eng.add(i, i, {"lr": 0.1 * (i + 1)}, 2)
values = sorted(round(f.value, 6) for f in eng.run())
print(json.dumps({"compiles": model.n_compiles, "hits": model.n_cache_hits, "values": values,
                  "dir": jax.config.jax_compilation_cache_dir,
                  "min_time": jax.config.jax_persistent_cache_min_compile_time_secs}))
"""


def _run(tmp_path: Path, **env: str | None) -> dict:
    full = {k: v for k, v in os.environ.items()
            if k not in (CACHE_ENV_VAR, "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME")}
    full.update({"HOME": str(tmp_path / "home"), "JAX_PLATFORMS": "cpu"})
    full.update({k: v for k, v in env.items() if v is not None})
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=full, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*-cache")) if folder.exists() else []


def test_a_second_process_loads_the_programs_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _run(tmp_path, **{CACHE_ENV_VAR: str(cache)})
    assert first["dir"] == str(cache) and first["min_time"] == 0.0
    n = first["compiles"]  # one bucket (and perhaps a smaller one for the tail)
    assert n >= 1 and first["hits"] == 0
    names = _entries(cache)
    assert len([x for x in names if x.startswith("jit_")]) == n
    # the batched program's compile time is kept for later processes' compaction decisions
    assert len(read_compile_seconds(cache)) == 1
    second = _run(tmp_path, **{CACHE_ENV_VAR: str(cache)})
    assert second["compiles"] == 0 and second["hits"] == n  # all loaded, none compiled
    assert second["values"] == first["values"]
    assert len(read_compile_seconds(cache)) == 1  # nothing compiled, nothing recorded


def test_default_folder_is_the_user_cache(tmp_path):
    xdg = tmp_path / "xdg"
    got = _run(tmp_path, XDG_CACHE_HOME=str(xdg))
    assert got["dir"] == str(xdg / "asha_nb" / "jax")
    assert _entries(xdg / "asha_nb" / "jax")
    without_xdg = _run(tmp_path)  # HOME is tmp_path/home in the child
    assert without_xdg["dir"] == str(tmp_path / "home" / ".cache" / "asha_nb" / "jax")


def test_off_leaves_jax_alone(tmp_path):
    got = _run(tmp_path, **{CACHE_ENV_VAR: "off", "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert got["dir"] is None and got["min_time"] == 1.0 and got["hits"] == 0
    assert not (tmp_path / "xdg").exists()


def test_the_users_own_jax_setting_is_kept(tmp_path):
    mine = tmp_path / "mine"
    got = _run(tmp_path, JAX_COMPILATION_CACHE_DIR=str(mine), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert got["dir"] == str(mine)
    assert got["min_time"] == 1.0  # JAX's threshold: the user's configuration, not changed
    assert not (tmp_path / "xdg").exists()
    assert not (mine / TIMES_FILE).exists()  # asha_nb writes nothing into the user's folder


def test_resolve_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resolve_cache_dir() == default_cache_dir() == tmp_path / "asha_nb" / "jax"
    assert resolve_cache_dir(True) == tmp_path / "asha_nb" / "jax"
    assert resolve_cache_dir(tmp_path / "x") == tmp_path / "x"
    assert resolve_cache_dir(False) is None
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    for off in ("off", "0", "false", "None", ""):
        monkeypatch.setenv(CACHE_ENV_VAR, off)
        assert resolve_cache_dir() is None
    with pytest.raises(InvalidTypeError, match="compilation_cache"):
        resolve_cache_dir(3)  # type: ignore[arg-type]


def test_compile_seconds_record_keeps_the_last_twenty(tmp_path):
    from asha_nb.integrations._jax_cache import record_compile_seconds

    assert read_compile_seconds(tmp_path) == []
    for i in range(25):
        record_compile_seconds(tmp_path, 0.5 + i)
    assert read_compile_seconds(tmp_path) == [0.5 + i for i in range(5, 25)]
    (tmp_path / TIMES_FILE).write_text("not json")
    assert read_compile_seconds(tmp_path) == []  # a damaged record is ignored


def test_a_failed_cache_setup_fails_the_program_instead_of_hanging_later_callers(monkeypatch):
    """The first program of a model sets the compilation cache up; when that raises (a
    warning turned into an error, a folder that cannot be made), the program's future must
    fail too. Before, it stayed pending and every later search of the model waited forever."""
    import threading

    import jax

    from asha_nb.examples import digits_mlp
    from asha_nb.integrations import _jax_model

    model, _ = digits_mlp(widths=(8,), compilation_cache=False)

    def broken(*_: object) -> None:
        raise RuntimeError("no cache today")

    monkeypatch.setattr(_jax_model, "enable_compilation_cache", broken)

    def build() -> object:
        return jax.jit(lambda x: x + 1).lower(1.0)

    with pytest.raises(RuntimeError, match="no cache today"):
        model._compiled("plus-one", build)
    monkeypatch.undo()
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(model._compiled("plus-one", build)(1.0)),
                              daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the second call waits for the failed first one"
    assert float(got[0]) == 2.0
