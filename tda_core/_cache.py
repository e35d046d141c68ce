"""The engine's on-disk cache: named float arrays in safetensors files, which never execute code.

Entries are keyed by a hash of everything that determines them (``joblib.hash`` of the key,
which reads nothing from disk). Each entry proves its content: its safetensors metadata holds
the key's hash and a BLAKE2b digest of the key's hash, the cache format and every array's name,
dtype, shape and bytes, checked on every read. A file is written to a temporary name and renamed
(:func:`tda_core._writing.write_atomically`), so a killed run leaves whole entries or none. A
file that cannot be read, whose digest or key does not match, or whose arrays do not have the
expected names, shapes, dtypes or finite values, is treated as missing and trained again. A
disk that fills up only stops caching.

The digest catches corrupted, truncated, edited and moved entries; it is not a signature: a
writer who knows this scheme can recompute it, as anyone who can write the cache folder could
also write the code that reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from ._code_version import code_version
from ._writing import write_atomically

#: Bumped when what an entry holds changes; old entries are then ignored (v3: content digests).
FORMAT = "v3"


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$TDA_CACHE_DIR``, else ``./cache``."""
    return Path(path or os.environ.get("TDA_CACHE_DIR") or "cache")


class ArrayCache:
    """A folder of safetensors files, one per key; ``root=None`` caches nothing."""

    def __init__(self, root: str | Path | None):
        self.root = None if root is None else Path(root) / FORMAT

    @staticmethod
    def digest(key: Any) -> str:
        """The hash of the key and of the engine's code (:mod:`tda_core._code_version`)."""
        return joblib.hash((code_version(), key))

    def path(self, key: Any) -> Path | None:
        if self.root is None:
            return None
        digest = self.digest(key)
        return self.root / digest[:2] / f"{digest}.safetensors"

    def load(self, key: Any, shapes: Mapping[str, tuple[int | None, ...] | None] | None = None) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None when missing or not as expected.

        ``shapes`` maps each expected name to its shape: a tuple whose ``None`` entries match
        any size, or None for any shape."""
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            raw = path.read_bytes()
            arrays = load(raw)
        except (SafetensorError, OSError, ValueError, RuntimeError):
            return None
        key_digest = self.digest(key)
        metadata = _metadata(raw)
        if metadata.get("key") != key_digest or metadata.get("digest") != content_digest(key_digest, arrays):
            return None  # corrupted, edited, or another key's entry
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
        from safetensors.numpy import save

        contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        key_digest = self.digest(key)
        metadata = {"format": FORMAT, "key": key_digest, "digest": content_digest(key_digest, contiguous)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, save(contiguous, metadata=metadata))
        except OSError:  # a full or read-only disk: go on without caching
            return


def content_digest(key_digest: str, arrays: Mapping[str, np.ndarray]) -> str:
    """BLAKE2b of the format, the key's hash and each array's name, dtype, shape and bytes (in
    name order, little-endian): any change to a stored value changes it."""
    h = hashlib.blake2b(digest_size=32)
    h.update(f"tda_core cache {FORMAT}\0{key_digest}\0".encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        value = value.astype(value.dtype.newbyteorder("<"), copy=False)
        h.update(f"{len(name)}:{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _metadata(raw: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (already validated by safetensors)."""
    try:
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + size])
    except (ValueError, UnicodeDecodeError):
        return {}
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _fits(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(shape) == len(expected) and all(e is None or int(e) == int(n) for n, e in zip(shape, expected))
