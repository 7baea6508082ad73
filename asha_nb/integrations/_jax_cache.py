"""JAX's persistent compilation cache, on by default for batched models; compile accounting.

A notebook user who runs a search cell once pays every XLA compilation of the batched programs.
JAX can keep compiled programs on disk (its *persistent compilation cache*), so that a new
process (a re-run, a restarted kernel) loads them instead of compiling again. JAX enables it
only when ``jax_compilation_cache_dir`` is set, and by default writes only programs that took
at least ``jax_persistent_cache_min_compile_time_secs`` (1 s) to compile, so most of ours would
not be kept. :func:`enable_compilation_cache` sets both, unless the user has chosen otherwise.

JAX has one cache per process: it is set up at the first compilation that finds a directory,
and every later compilation of the process (also the user's own ``jax.jit`` functions) then
uses the same directory.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import InvalidTypeError

__all__ = [
    "CACHE_ENV_VAR",
    "default_cache_dir",
    "resolve_cache_dir",
    "enable_compilation_cache",
    "owned_cache_dir",
    "read_compile_seconds",
    "record_compile_seconds",
    "compile_counted",
]

#: Environment variable choosing asha_nb's JAX cache directory; ``off``/``0``/``false``/``none``
#: (or empty) leaves JAX's persistent cache alone.
CACHE_ENV_VAR = "ASHA_NB_JAX_CACHE_DIR"

_OFF = {"", "0", "off", "false", "no", "none"}
#: File in asha_nb's cache folder with the last compile times of batched programs (seconds).
TIMES_FILE = "asha_nb-compile-seconds.json"
_KEEP = 20
_lock = threading.Lock()
_applied: str | None = None  # the directory asha_nb configured in this process, if any
_local = threading.local()
_listening = False


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/asha_nb/jax``, or ``~/.cache/asha_nb/jax`` without ``XDG_CACHE_HOME``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "asha_nb" / "jax"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | bool | None = None) -> Path | None:
    """Where asha_nb would put JAX's cache, or ``None`` if it should leave JAX alone.

    Parameters
    ----------
    cache_dir
        A directory; ``False`` for no cache; ``None`` or ``True`` for the environment variable
        ``ASHA_NB_JAX_CACHE_DIR`` (a directory, or ``off``) if set, else
        :func:`default_cache_dir`.

    Examples
    --------
    >>> resolve_cache_dir("/tmp/my-cache")
    PosixPath('/tmp/my-cache')
    >>> resolve_cache_dir(False) is None
    True
    """
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        env = os.environ.get(CACHE_ENV_VAR)
        if env is None:
            return default_cache_dir()
        if env.strip().lower() in _OFF:
            return None
        return Path(env).expanduser()
    if isinstance(cache_dir, (str, os.PathLike)):
        return Path(cache_dir).expanduser()
    raise InvalidTypeError(
        f"compilation_cache must be a directory (str or path), True, False or None, "
        f"got {type(cache_dir).__name__}: {cache_dir!r}"
    )


def enable_compilation_cache(cache_dir: str | os.PathLike[str] | bool | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache for this process (idempotent).

    The directory comes from :func:`resolve_cache_dir`. Nothing the user set is overwritten:

    - if ``jax_compilation_cache_dir`` is already set (``jax.config.update`` or the
      ``JAX_COMPILATION_CACHE_DIR`` environment variable), that directory is kept (with a
      warning if ``cache_dir`` names another one) and the thresholds are left as they are;
    - otherwise the directory is set, and so are the thresholds that are still at JAX's
      defaults and not set through their environment variables:
      ``jax_persistent_cache_min_compile_time_secs = 0`` (keep every program, not only those
      that took over 1 s) and ``jax_persistent_cache_min_entry_size_bytes = -1`` (no size
      floor, whatever the filesystem).

    Parameters
    ----------
    cache_dir
        See :func:`resolve_cache_dir`; ``False`` (or ``ASHA_NB_JAX_CACHE_DIR=off``) does nothing.

    Returns
    -------
    str or None
        The cache directory JAX uses now, or ``None`` if the cache is off.
    """
    global _applied
    import jax

    wanted = resolve_cache_dir(cache_dir)
    current = jax.config.jax_compilation_cache_dir
    with _lock:
        if current:
            explicit = cache_dir is not None and not isinstance(cache_dir, bool)
            if explicit and wanted is not None and Path(current) != wanted:
                warnings.warn(
                    f"JAX's compilation cache is already set to {current!r}; asha_nb keeps it "
                    f"and does not use {str(wanted)!r}", UserWarning, stacklevel=3)
            return str(current)
        if wanted is None or not jax.config.jax_enable_compilation_cache:
            return None
        wanted.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(wanted))
        if (jax.config.jax_persistent_cache_min_compile_time_secs == 1.0
                and "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ):
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        if (jax.config.jax_persistent_cache_min_entry_size_bytes == 0
                and "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES" not in os.environ):
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        _applied = str(wanted)
        return _applied


def owned_cache_dir() -> str | None:
    """The cache folder asha_nb configured in this process (``None`` if JAX's own or none)."""
    return _applied


def read_compile_seconds(folder: str | os.PathLike[str]) -> list[float]:
    """Compile times of batched programs recorded in ``folder`` (empty if none or unreadable).

    A process whose programs all come from the persistent cache measures no compilation; these
    times, measured by earlier processes on this machine, let it judge as they did whether a
    new batch size pays for its compilation.
    """
    try:
        values = json.loads((Path(folder) / TIMES_FILE).read_text())
        return [float(v) for v in values if float(v) >= 0][-_KEEP:]
    except (OSError, ValueError, TypeError):
        return []


def record_compile_seconds(folder: str | os.PathLike[str], seconds: float) -> None:
    """Append one compile time to ``folder``'s record (the last 20 are kept; best effort)."""
    path = Path(folder) / TIMES_FILE
    with _lock:
        values = read_compile_seconds(folder) + [round(float(seconds), 4)]
        tmp = path.with_name(f"{TIMES_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(values[-_KEEP:]))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _on_event(event: str, **_: Any) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _local.hits = getattr(_local, "hits", 0) + 1


def compile_counted(lowered: Any) -> tuple[Any, bool, float]:
    """Compile a ``jax.stages.Lowered``; return ``(compiled, from_persistent_cache, seconds)``.

    Cache hits are counted with a ``jax.monitoring`` event listener; JAX records the event in
    the thread that compiles, so concurrent compilations in other threads are not confused.
    """
    global _listening
    with _lock:
        if not _listening:
            import jax.monitoring

            jax.monitoring.register_event_listener(_on_event)
            _listening = True
    before = getattr(_local, "hits", 0)
    t0 = time.perf_counter()
    compiled = lowered.compile()
    seconds = time.perf_counter() - t0
    return compiled, getattr(_local, "hits", 0) > before, seconds
