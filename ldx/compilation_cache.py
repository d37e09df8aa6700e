"""Opt-in persistent XLA compilation cache.

On a small CPU machine XLA compilation dominates short runs (each distinct
random-init shape alone costs ~0.4 s), so launch apps and tests keep compiled
programs on disk and a second run of the same program skips compilation.
"""

from __future__ import annotations

import os

import jax

DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "ldx", "xla")


def enable(directory: str | None = None) -> str | None:
    """Enables the cache in `directory` (default $LDX_COMPILATION_CACHE or ~/.cache/ldx/xla).

    An empty $LDX_COMPILATION_CACHE disables it. Returns the directory used, or None.
    """
    if directory is None:
        directory = os.environ.get("LDX_COMPILATION_CACHE", DEFAULT_DIR)
    if not directory:
        return None
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
