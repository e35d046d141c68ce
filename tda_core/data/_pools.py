"""Loading a pool: labelled samples outside the training set that the ``add`` action may add.

A table's pool is a CSV or Parquet file with the training feature columns (any order) and the
target column; an image dataset's pool is a folder or ZIP of ``<class>/*`` (or ``pool/<class>/*``,
which is also how a pool rides inside the training archive). Either is read with the checks and
limits of the training data, and labelled with the training classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import DataError, TDAError, read_failure
from ._dataset import Dataset
from ._tables import TABLE_SUFFIXES, read_table, table_pool

if TYPE_CHECKING:  # pragma: no cover
    from ._images import ImageInput


def attach_pool(
    data: Dataset,
    source: str | Path | bytes,
    *,
    name: str | None = None,
    image_input: ImageInput | None = None,
) -> Dataset:
    """``data`` with the pool read from ``source`` (a path, or the bytes of an upload named ``name``),
    replacing any pool it had.

    Tables: a ``.csv``/``.parquet`` table; pool ids are its row positions (0..n-1). Images: a folder
    or ``.zip``, prepared by ``image_input`` (the training set's input; None: the small networks'
    normalisation) at the training images' size and channels. Raises
    :class:`~tda_core._exceptions.DataError` with one line saying what is wrong and how to fix it."""
    label = name or ("pool" if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).name or str(source))
    try:
        return _read_pool(data, source, name, label, image_input)
    except TDAError:
        raise
    except Exception as exc:  # an arbitrary upload can break a reader in unforeseen ways: one line in words
        why = read_failure(exc)
        raise DataError(f"{label}: could not read the pool" + (f": {why}" if why else "")) from exc


def _read_pool(data: Dataset, source: str | Path | bytes, name: str | None, label: str,
               image_input: ImageInput | None) -> Dataset:
    if data.kind == "tabular":
        return table_pool(data, read_table(source, name), label)
    if Path(label).suffix.lower() in TABLE_SUFFIXES:  # a table for images: say which pool fits
        raise DataError(f"{label}: the training data are images: give their pool as a folder or .zip of <class>/ folders of images")
    from ._images import image_pool  # torch and torchvision only for images

    return image_pool(data, source, name, image_input=image_input)
