"""Shared test setup: every test session gets its own empty engine cache."""

from __future__ import annotations

import os
import tempfile

# Set before any engine import, so AppTest runs and subprocesses inherit it too.
os.environ.setdefault("TDA_CACHE_DIR", tempfile.mkdtemp(prefix="tda-test-cache-"))
