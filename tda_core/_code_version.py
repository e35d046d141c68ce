"""A digest of the engine's own source code, carried by every cache key.

A cache entry is what some code computed from its inputs. The inputs are in the key (the data's
and the recipe's fingerprints, the seed, the edits); this digest adds the code itself, so that an
edited training function, a fixed bug or a new release never reads entries its old self wrote.
It covers every module of ``tda_core``: any edit invalidates the cache, which costs a retraining
and can never give a stale number. A function handed in from outside the package (a feature
attribution's fit, :meth:`tda_core._engine.Engine.fitted`) adds its own source: :func:`function_digest`.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


def source_digest(files: Iterable[Path], root: Path) -> str:
    """BLAKE2b of each file's path (relative to ``root``) and bytes, in sorted order."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The digest of every ``.py`` file of the installed ``tda_core`` (read once per process)."""
    return source_digest(PACKAGE.rglob("*.py"), PACKAGE)


def function_digest(fn: Callable[..., Any]) -> str:
    """A digest of ``fn``'s source (its code object's bytes and constants where the source is not
    on disk): a function edited under the same name gets another digest."""
    try:
        text = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = fn.__code__
        text = code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()
