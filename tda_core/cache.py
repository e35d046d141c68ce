"""Where cached work lives: ``joblib.Memory`` under ``./cache`` or ``$TDA_CACHE_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import joblib


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$TDA_CACHE_DIR``, else ``./cache``."""
    return Path(path or os.environ.get("TDA_CACHE_DIR") or "cache")


def memory(path: str | Path | None = None, enabled: bool = True) -> joblib.Memory:
    """A joblib.Memory store; ``enabled=False`` gives one that caches nothing."""
    return joblib.Memory(str(cache_dir(path)) if enabled else None, verbose=0)
