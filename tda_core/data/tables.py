"""Loading and validating tabular datasets (CSV or Parquet)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError, UsageError
from .dataset import Dataset

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(source: str | Path | bytes, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (a path, or the bytes of an upload named ``name``)."""
    if name is None and not isinstance(source, (str, Path)):
        name = "upload"  # never the bytes themselves in a message
    label = str(name or source)
    suffix = Path(label).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{label}: unsupported file type {suffix or '(none)'}; give a .csv or .parquet file")
    if isinstance(source, (str, Path)):
        if not Path(source).is_file():
            raise DataError(f"{label}: file not found")
        handle: Any = source
    else:
        handle = io.BytesIO(source)
    try:
        frame = pd.read_csv(handle) if suffix == ".csv" else pd.read_parquet(handle)
    except Exception as exc:  # pandas raises many types; the user needs one line
        raise DataError(f"{label}: could not read the file as {suffix[1:]} ({exc.__class__.__name__}: {exc})") from None
    if frame.empty or frame.shape[1] < 2:
        raise DataError(f"{label}: the table needs at least one row, one feature column and the target column")
    return frame


def _split_target(frame: pd.DataFrame, target: str, label: str) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise DataError(
            f"{label}: no target column {target!r}; the columns are {', '.join(map(str, frame.columns))}"
        )
    y = frame[target]
    if y.isna().any():
        raise DataError(f"{label}: the target column {target!r} has {int(y.isna().sum())} missing values; drop those rows")
    return frame.drop(columns=[target]), y


def _class_names(values: pd.Series) -> np.ndarray:
    """Class labels as strings; integer-valued floats print as integers ("1", not "1.0")."""
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.to_numpy(), 1) == 0):
        values = values.astype(np.int64)
    return values.astype(str).to_numpy()


def tabular_dataset(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    name: str = "table",
    description: str = "",
) -> Dataset:
    """Validate a train and a test table and turn them into a :class:`Dataset`."""
    X_train, y_train_raw = _split_target(train, target, "train")
    X_test, y_test_raw = _split_target(test, target, "test")
    if set(X_train.columns) != set(X_test.columns):
        only_train = sorted(map(str, set(X_train.columns) - set(X_test.columns)))
        only_test = sorted(map(str, set(X_test.columns) - set(X_train.columns)))
        parts = [f"only in train: {', '.join(only_train)}"] * bool(only_train) + [f"only in test: {', '.join(only_test)}"] * bool(only_test)
        raise DataError(f"the train and test tables have different columns ({'; '.join(parts)})")
    X_test = X_test[list(X_train.columns)]  # the same columns in another order: the training order
    y_train_names, y_test_names = _class_names(y_train_raw), _class_names(y_test_raw)
    classes = np.unique(y_train_names)
    if len(classes) < 2:
        raise DataError(
            f"the target column {target!r} has a single class ({classes[0] if len(classes) else 'none'}) "
            "in the training data; a classifier needs at least two"
        )
    unseen = sorted(set(y_test_names) - set(classes))
    if unseen:
        raise DataError(f"the test data has classes not in the training data: {', '.join(unseen)}")
    codes = {c: i for i, c in enumerate(classes)}
    return Dataset(
        name=name,
        kind="tabular",
        X_train=X_train.reset_index(drop=True),
        y_train=np.array([codes[c] for c in y_train_names], dtype=np.int64),
        X_test=X_test.reset_index(drop=True),
        y_test=np.array([codes[c] for c in y_test_names], dtype=np.int64),
        classes=tuple(str(c) for c in classes),
        train_ids=train.index.to_numpy(),
        test_ids=test.index.to_numpy(),
        target=target,
        description=description,
    )


def split_table(
    frame: pd.DataFrame, target: str, test_size: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split; row ids are kept in the index."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise UsageError(f"the test fraction must lie between 0 and 1, not {test_size}")
    _, y = _split_target(frame, target, "data")
    names = _class_names(y)
    counts = pd.Series(names).value_counts()
    if len(counts) < 2:
        raise DataError(f"the target column {target!r} has a single class ({counts.index[0]}); a classifier needs at least two")
    stratify = names if counts.min() >= 2 else None
    try:
        return train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"cannot split {len(frame)} rows with test size {test_size}: {exc}") from None


def load_tabular(
    target: str,
    train: str | Path | None = None,
    test: str | Path | None = None,
    data: str | Path | None = None,
    test_size: float = 0.2,
    split_seed: int = 0,
) -> Dataset:
    """Load ``train``+``test`` files, or one ``data`` file split into train and test."""
    if data is not None:
        frame = read_table(data)
        train_df, test_df = split_table(frame, target, test_size, split_seed)
        return tabular_dataset(train_df, test_df, target, name=Path(data).name)
    if train is None or test is None:
        raise UsageError("give a training and a test table, or one table to split")
    return tabular_dataset(read_table(train), read_table(test), target, name=Path(train).name)
