"""Errors with their own types, so the CLI and the dashboard can show one clear line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Longest message the command line prints on its one ``error:`` line.
MAX_MESSAGE = 600


class TDAError(Exception):
    """Base class: a problem with the user's input, explained in the message."""


class DataError(TDAError, ValueError):
    """The dataset cannot be used as given (missing file, column, class, bad archive...). Also a
    ``ValueError``, as scikit-learn's input errors are."""


class ModelError(TDAError):
    """The model or training recipe cannot be used as given."""


class UntrustedFileError(ModelError):
    """A file would execute code when loaded, and the user has not said they trust it."""


class UsageError(TDAError, ValueError):
    """A request that does not fit the data (unknown class, bad index, bad option). Also a
    ``ValueError``, as scikit-learn's are."""


class BudgetError(UsageError):
    """A run that would exceed the memory budget (see :mod:`tda_core.limits`); the message names
    the number and the way out."""


class BackendError(UsageError):
    """A parallel backend that cannot be reached or does not answer (a Dask scheduler...)."""


def one_line(text: Any, limit: int = MAX_MESSAGE) -> str:
    """``text`` on a single line (line breaks and tabs become spaces), cut to ``limit`` characters."""
    flat = " ".join(str(text).replace("\t", " ").splitlines()).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def names(values: Iterable[Any], limit: int = 10) -> str:
    """A comma-separated list of names for a message: each on one line, at most ``limit`` of them."""
    items = [one_line(v, 80) for v in values]
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} … and {len(items) - limit:,} more"


def describe(exc: BaseException) -> str:
    """An exception from third-party code as one short line: its type and the first line of its message."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return one_line(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, 300)
