"""Errors with their own types, so the CLI and the dashboard can show one clear line."""


class TDAError(Exception):
    """Base class: a problem with the user's input, explained in the message."""


class DataError(TDAError):
    """The dataset cannot be used as given (missing file, column, class, bad archive...)."""


class ModelError(TDAError):
    """The model or training recipe cannot be used as given."""


class UntrustedFileError(ModelError):
    """A file would execute code when loaded, and the user has not said they trust it."""


class UsageError(TDAError):
    """A request that does not fit the data (unknown class, bad index, bad option)."""
