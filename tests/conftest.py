"""Shared test set-up: a persistent XLA cache so programs compiled once are reused."""

import os
import sys
import tempfile

# The repository root holds configs/ and launch/, imported by the launch tests.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ldx import compilation_cache  # noqa: E402

CACHE_DIR = compilation_cache.enable(
    os.environ.get("LDX_COMPILATION_CACHE", os.path.join(tempfile.gettempdir(), "ldx_test_xla"))
)
