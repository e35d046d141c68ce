"""The engine's on-disk cache: named float arrays in safetensors files, which never execute code.

Entries are keyed by a hash of everything that determines them (``joblib.hash`` of the key,
which reads nothing from disk). A file is written to a temporary name and renamed, so a killed
run leaves whole entries or none. A file that cannot be read, or whose arrays do not have the
expected names, shapes, dtypes or finite values, is treated as missing and trained again. A
disk that fills up only stops caching.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np

#: Bumped when what an entry holds changes; old entries are then ignored.
FORMAT = "v2"


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$TDA_CACHE_DIR``, else ``./cache``."""
    return Path(path or os.environ.get("TDA_CACHE_DIR") or "cache")


class ArrayCache:
    """A folder of safetensors files, one per key; ``root=None`` caches nothing."""

    def __init__(self, root: str | Path | None):
        self.root = None if root is None else Path(root) / FORMAT

    @staticmethod
    def digest(key: Any) -> str:
        return joblib.hash(key)

    def path(self, key: Any) -> Path | None:
        if self.root is None:
            return None
        digest = self.digest(key)
        return self.root / digest[:2] / f"{digest}.safetensors"

    def load(self, key: Any, shapes: Mapping[str, tuple[int, ...] | None] | None = None) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None when missing or not as expected.

        ``shapes`` maps each expected name to its shape: a tuple whose ``None`` entries match
        any size, or None for any shape."""
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError):
            return None
        if shapes is not None:
            if set(arrays) != set(shapes):
                return None
            for name, shape in shapes.items():
                if shape is not None and not _fits(arrays[name].shape, shape):
                    return None
        for value in arrays.values():
            if value.dtype.kind != "f" or not np.all(np.isfinite(value)):
                return None
        return arrays

    def store(self, key: Any, arrays: Mapping[str, np.ndarray]) -> None:
        path = self.path(key)
        if path is None:
            return
        from safetensors.numpy import save_file

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(handle)
            try:
                save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:  # a full or read-only disk: go on without caching
            return


def _fits(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(shape) == len(expected) and all(e is None or int(e) == int(n) for n, e in zip(shape, expected))
