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


#: The ways out that an error names, in neutral words; ``needed`` is the memory a run needs. Each
#: client says them its own way (:meth:`WaysOut.worded`): the command line names its flags, the
#: dashboard its controls.
WAYS_OUT = {
    "candidate_mode": "use candidate mode",
    "memory_limit": "raise the memory limit to at least {needed}",
    "cache_folder": "choose another cache folder",
    "no_cache": "run without the cache",
    "trust_file": "say that you trust this file",
    "trust_it": "say that you trust it",
}


def way_out(name: str) -> str:
    """The place of the way out ``name`` (a key of :data:`WAYS_OUT`) in a :class:`BudgetError`'s template."""
    return f"\x00{name}\x00"


class WaysOut(TDAError):
    """An error whose ways out are kept apart from its words: ``template`` holds :func:`way_out`
    marks, ``str(exc)`` says them as :data:`WAYS_OUT` does, :meth:`worded` as a client does."""

    def __init__(self, template: str, needed: str = ""):
        self.template, self.needed = template, needed
        super().__init__(self.worded(WAYS_OUT))

    def worded(self, ways: dict[str, str]) -> str:
        """The message with its ways out said as ``ways`` says them (keys of :data:`WAYS_OUT`;
        a way that ``ways`` lacks keeps its neutral words)."""
        text = self.template
        for name, words in (WAYS_OUT | ways).items():
            text = text.replace(way_out(name), words.replace("{needed}", self.needed))
        return text


class UntrustedFileError(WaysOut, ModelError):
    """A file would execute code when loaded, and the user has not said they trust it."""


class UsageError(TDAError, ValueError):
    """A request that does not fit the data (unknown class, bad index, bad option). Also a
    ``ValueError``, as scikit-learn's are."""


class BudgetError(WaysOut, UsageError):
    """A run that would exceed the memory budget (see :mod:`tda_core.limits`); the message names
    the number and the ways out (:class:`WaysOut`)."""


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


def reason(exc: BaseException, limit: int = 300) -> str:
    """The first line of a third-party exception's message, without its type's name ("" when it has none)."""
    text = str(exc).strip()
    return one_line(text.splitlines()[0], limit) if text else ""


#: Why a file could not be read, in words, for the common failures of third-party readers.
NOT_TEXT = ("it holds bytes that are not text (is it an image, a spreadsheet or a compressed file?). "
            "Save it as CSV (UTF-8) or Parquet.")
EMPTY_TABLE = ("the file is empty (no header row, no rows). Give a table with a header row naming the columns, "
               "the target column among them, and at least one row per class.")
NOT_A_TABLE = "its rows are not laid out as a CSV or Parquet table."
NOT_PARQUET = "it is not a Parquet file, or it is damaged or cut short."
NOT_A_ZIP = "it is not a complete ZIP file: it may be damaged or cut short."
TOO_LARGE = "it is too large to read into memory here."


def read_failure(exc: BaseException, parquet: bool = False) -> str:
    """Why a third-party reader (pandas' csv reader, pyarrow, zipfile...) failed on the user's file, in
    words, to follow "<file>: could not read ...: ". The common failures are worded: bytes that are
    not text, an empty table, rows that do not parse, a damaged ZIP file, too little memory, and with
    ``parquet`` (the bytes were read as Parquet, from memory) any of pyarrow's refusals or I/O errors.
    Any other gives its message's first line, without the exception's name ("" when it has none)."""
    import zipfile

    if isinstance(exc, UnicodeDecodeError):
        return NOT_TEXT
    if isinstance(exc, MemoryError):
        return TOO_LARGE
    if isinstance(exc, (zipfile.BadZipFile, EOFError)):
        return NOT_A_ZIP
    import pandas as pd

    if isinstance(exc, pd.errors.EmptyDataError):
        return EMPTY_TABLE
    if isinstance(exc, pd.errors.ParserError):
        return NOT_A_TABLE
    if parquet:
        import pyarrow as pa

        if isinstance(exc, (pa.ArrowException, OSError)):  # ArrowInvalid, "Couldn't deserialize thrift"...
            return NOT_PARQUET
    return reason(exc)
