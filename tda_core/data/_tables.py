"""Loading and validating tabular datasets (CSV or Parquet)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import limits
from .._exceptions import DataError, TDAError, UsageError, one_line, read_failure, reason
from .._exceptions import names as name_list
from ._dataset import Dataset

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(source: str | Path | bytes, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (a path, or the bytes of an upload named ``name``).

    The size is checked before the table is decoded (:data:`~tda_core.limits.MAX_ROWS`,
    :data:`~tda_core.limits.MAX_COLUMNS`, :data:`~tda_core.limits.MAX_CELLS`, and for Parquet the
    decoded bytes, counted batch by batch, against :data:`~tda_core.limits.MAX_TABLE_BYTES`): a
    small compressed file cannot expand without bound."""
    if name is None and not isinstance(source, (str, Path)):
        name = "upload"  # never the bytes themselves in a message
    label = one_line(name or source, 200)
    suffix = Path(label).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{label}: unsupported file type {suffix or '(none)'}; give a .csv or .parquet file")
    if isinstance(source, (str, Path)):
        try:
            if not Path(source).is_file():
                raise DataError(f"{label}: file not found")
            size = Path(source).stat().st_size
            if size > limits.MAX_TABLE_BYTES:
                raise DataError(f"{label}: the file has {limits.format_bytes(size)}, more than this tool reads "
                                f"({limits.format_bytes(limits.MAX_TABLE_BYTES)}); sample the rows or drop columns")
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise DataError(f"{label}: cannot read the file ({exc.strerror or reason(exc) or 'an input/output error'})") from exc
    else:
        raw = bytes(source)
    _check_size(raw, suffix, label)
    try:
        headed = suffix != ".csv" or _has_header(raw)
        frame = _read_csv(raw, headed) if suffix == ".csv" else pd.read_parquet(io.BytesIO(raw))
    except MemoryError as exc:
        raise DataError(f"{label}: the table does not fit in memory") from exc
    except Exception as exc:  # pandas raises many types; the user needs one line
        raise _unreadable(label, suffix, exc) from exc
    if suffix == ".csv" and headed:
        _check_csv_header(raw, label)  # read once already: it parses
    if frame.empty or frame.shape[1] < 2:
        hint = ""
        if suffix == ".csv" and frame.shape[1] == 1 and any(sep in str(frame.columns[0]) for sep in ";\t|"):
            hint = " (it looks separated by ';', tabs or '|': save it with commas)"
        raise DataError(f"{label}: the table needs at least one row, one feature column and the target column{hint}")
    return frame


def _unreadable(label: str, suffix: str, exc: Exception) -> DataError:
    """A table the reader refused, and why in words (:func:`~tda_core._exceptions.read_failure`)."""
    why = read_failure(exc, parquet=suffix != ".csv")
    return DataError(f"{label}: could not read the file as {suffix[1:]}" + (f": {why}" if why else ""))


def _read_csv(raw: bytes, headed: bool = True) -> pd.DataFrame:
    """UTF-8, or Latin-1 for text that is not UTF-8 (older spreadsheet exports); trailing
    separators (empty ``Unnamed: N`` columns) are dropped. A file without a header row (its first
    row is data, as in UCI's census income files) gets the columns ``column_1`` ... ``column_N``."""
    header: dict[str, Any] = {} if headed else {"header": None}
    try:
        frame = pd.read_csv(io.BytesIO(raw), **header)
    except UnicodeDecodeError:
        if b"\x00" in raw:  # UTF-16 or binary: not a text table
            raise
        frame = pd.read_csv(io.BytesIO(raw), encoding="latin-1", **header)
    if header:
        frame.columns = [f"column_{i}" for i in range(1, frame.shape[1] + 1)]
    empty = [c for c in frame.columns if re.fullmatch(r"Unnamed: \d+", str(c)) and frame[c].isna().all()]
    return frame.drop(columns=empty) if empty else frame


#: Bytes of a CSV's start that decide whether its first row is a header.
HEADER_SAMPLE = 64 * 1024


def _has_header(raw: bytes) -> bool:
    """Whether the first row names the columns. It does not when it repeats a field (no header
    does: repeated names are refused), one of its fields is a number, and the standard library's
    sniffer finds it typed like the rows under it: all three, so that a header of years
    (``2019,2020``) or of words stays a header, and a repeated name gets its own message."""
    sample = raw[:HEADER_SAMPLE].decode("utf-8", errors="replace")
    sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    first = next(csv.reader(io.StringIO(sample)), [])
    fields = [f.strip() for f in first]
    if len(set(fields)) == len(fields) or not any(_looks_numeric(f) for f in fields):
        return True
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:  # the sniffer cannot tell: the usual case, a header
        return True


def _looks_numeric(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _check_csv_header(raw: bytes, label: str) -> None:
    """Refuse repeated column names, as for Parquet: pandas would rename the second ``x`` to
    ``x.1`` and the export would write a column the user never had. Empty names (trailing
    separators) are dropped later, not repeated."""
    header = None
    for encoding in ("utf-8", "latin-1"):  # as the table was read
        try:
            header = pd.read_csv(io.BytesIO(raw), header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except Exception:  # the table itself parsed: a header this reader cannot split has no repeats to find
            return
    if header is None:
        return
    fields = [str(v) for v in header.iloc[0]] if len(header) else []
    duplicated = sorted({n for n in fields if n and fields.count(n) > 1})
    if duplicated:
        raise DataError(f"{label}: the column names {name_list(duplicated)} appear more than once; give every column its own name")


def _check_size(raw: bytes, suffix: str, label: str) -> None:
    """Refuse a table whose decoded size exceeds the limits, from its metadata or line count."""
    if suffix == ".csv":
        rows = raw.count(b"\n")
        first = raw[: raw.find(b"\n")] if rows else raw[:65536]
        columns = first.count(b",") + 1
    else:
        try:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(io.BytesIO(raw))
            rows, columns = parquet.metadata.num_rows, parquet.metadata.num_columns
            fields = [str(n) for n in parquet.schema_arrow.names]
        except Exception as exc:
            raise _unreadable(label, suffix, exc) from exc
        duplicated = sorted({n for n in fields if fields.count(n) > 1})
        if duplicated:
            raise DataError(f"{label}: the column names {name_list(duplicated)} appear more than once; give every column its own name")
    if rows > limits.MAX_ROWS or columns > limits.MAX_COLUMNS or rows * columns > limits.MAX_CELLS:
        raise DataError(
            f"{label}: {rows:,} rows x {columns:,} columns is more than this tool takes (at most {limits.MAX_ROWS:,} rows, "
            f"{limits.MAX_COLUMNS:,} columns and {limits.MAX_CELLS:,} cells); sample the rows or drop columns"
        )
    if suffix != ".csv":
        _check_decoded_parquet(parquet, label)


def _check_decoded_parquet(parquet: Any, label: str) -> None:
    """Decode the Parquet file batch by batch, keeping none, and refuse it when its columns take more
    than :data:`~tda_core.limits.MAX_TABLE_BYTES` (long repeated strings compress to almost nothing)."""
    total = 0
    try:
        for batch in parquet.iter_batches(batch_size=65_536):
            total += batch.nbytes
            if total > limits.MAX_TABLE_BYTES:
                raise DataError(f"{label}: the table decodes to more than {limits.format_bytes(limits.MAX_TABLE_BYTES)}; "
                                "sample the rows or drop columns")
    except TDAError:
        raise
    except Exception as exc:
        raise _unreadable(label, ".parquet", exc) from exc


def _split_target(frame: pd.DataFrame, target: str, label: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = _clean_columns(frame, label)
    if target not in frame.columns:
        raise DataError(f"{label}: no target column {one_line(target, 80)!r}; the columns are {name_list(frame.columns, 20)}")
    y = frame[target]
    if y.isna().any():
        raise DataError(f"{label}: the target column {target!r} has {int(y.isna().sum())} missing values; drop those rows")
    _check_cells(y, target, label, "target column")
    return frame.drop(columns=[target]), y


def _clean_columns(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Column names as strings, each once."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{label}: expected a table, not {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    seen, duplicated = set(), []
    for c in columns:
        if c in seen and c not in duplicated:
            duplicated.append(c)
        seen.add(c)
    if duplicated:
        raise DataError(f"{label}: the column names {name_list(duplicated)} appear more than once; give every column its own name")
    if list(frame.columns) != columns:
        frame = frame.set_axis(columns, axis=1)
    return frame


_SCALARS = (str, bytes, int, float, bool, np.integer, np.floating, np.bool_)
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SEPARATED_NUMBER = re.compile(r"^[+-]?(\d+,\d+|\d{1,3}([,.' \u00a0]\d{3})+([.,]\d+)?)$")


def _check_cells(column: pd.Series, name: str, label: str, what: str = "column") -> None:
    """Refuse cells that are not plain values (lists, dicts, structs from Parquet...)."""
    if column.dtype != object:
        if pd.api.types.is_datetime64_any_dtype(column.dtype) or pd.api.types.is_timedelta64_dtype(column.dtype):
            raise DataError(f"{label}: the {what} {one_line(name, 80)!r} holds dates or durations; convert them to numbers (days, seconds) or text")
        if isinstance(column.dtype, pd.ArrowDtype) and not (
            pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)
        ):
            raise DataError(f"{label}: the {what} {one_line(name, 80)!r} holds {column.dtype} values; give plain numbers or text")
        if pd.api.types.is_complex_dtype(column.dtype):
            raise DataError(f"{label}: the {what} {one_line(name, 80)!r} holds complex numbers; give plain numbers or text")
        return
    bad = next((v for v in column.dropna() if not isinstance(v, _SCALARS)), None)
    if bad is not None:
        raise DataError(
            f"{label}: the {what} {one_line(name, 80)!r} holds {type(bad).__name__} values (nested data such as lists or "
            "structs); flatten it into plain numbers or text"
        )


def _check_features(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Plain, finite values in every feature column; numbers that were read as text are named.
    Boolean columns become 0/1 numbers; object columns that mix types become text."""
    for column in frame.columns:
        values = frame[column]
        _check_cells(values, column, label)
        if len(values) and values.isna().all():
            raise DataError(f"{label}: the column {one_line(column, 80)!r} has no values at all; drop it")
        if pd.api.types.is_bool_dtype(values.dtype):  # True/False as 1/0: the preprocessing scales numbers
            frame = frame.assign(**{column: values.astype("float64")})
            continue
        if pd.api.types.is_numeric_dtype(values.dtype):
            numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isnan(numbers) & ~(np.abs(numbers) <= limits.MAX_ABS_VALUE)
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"{label}: the column {one_line(column, 80)!r} has {int(bad.sum())} infinite or too large values "
                    f"(first {float(numbers[first])!r} in row {one_line(frame.index[first], 40)}; at most "
                    f"{limits.MAX_ABS_VALUE:g} in magnitude); "
                    "replace them or leave the cells empty"
                )
        elif values.dtype == object:
            kinds = {type(v) for v in values.dropna()}
            if len(kinds) > 1:  # mixed types (1 and "a") cannot be sorted by an encoder: all as text
                frame = frame.assign(**{column: values.where(values.isna(), values.astype(str))})
        _check_numbers_as_text(frame[column], column, label)
    return frame


def _check_numbers_as_text(values: pd.Series, column: str, label: str) -> None:
    """Say so when a text column holds numbers: decimal commas, thousands separators, or a few
    non-numeric tokens ("?", "n/a") that made the whole column text."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return
    distinct = pd.unique(values.dropna().astype(str).str.strip())[:5000]
    distinct = [v for v in distinct if v]
    if len(distinct) < 2:
        return
    plain = [v for v in distinct if _PLAIN_NUMBER.match(v)]
    separated = [v for v in distinct if not _PLAIN_NUMBER.match(v) and _SEPARATED_NUMBER.match(v)]
    if separated and len(plain) + len(separated) >= 0.9 * len(distinct):
        raise DataError(
            f"{label}: the column {one_line(column, 80)!r} holds numbers written with a decimal comma or thousands "
            f"separators (such as {one_line(separated[0], 40)!r}), so it was read as text: write numbers with '.' as the "
            "decimal point and no separators"
        )
    others = [v for v in distinct if not _PLAIN_NUMBER.match(v)]
    if len(distinct) >= 10 and others and len(plain) >= 0.9 * len(distinct):
        raise DataError(
            f"{label}: the column {one_line(column, 80)!r} looks numeric but was read as text because of values such as "
            f"{name_list([repr(v) for v in others], 3)}: leave those cells empty (missing values) or fix them"
        )


def _class_names(values: pd.Series) -> np.ndarray:
    """Class labels as strings; integer-valued floats print as integers ("1", not "1.0")."""
    if pd.api.types.is_float_dtype(values) and pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0) and np.all(np.abs(numbers) < 2**53):
            return numbers.astype(np.int64).astype(str).astype(object)
    return values.astype(str).to_numpy(dtype=object)


def tabular_dataset(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    name: str = "table",
    description: str = "",
) -> Dataset:
    """Validate a train and a test table and turn them into a :class:`Dataset`.

    Refused with a :class:`DataError` naming the column: duplicate column names, nested cells
    (lists, structs), infinite or overflowing numbers, numbers read as text (decimal commas,
    thousands separators, a few text tokens), text columns with more than
    :data:`~tda_core.limits.MAX_LEVELS` distinct values, and regression-like targets (more than
    :data:`~tda_core.limits.MAX_CLASSES` classes)."""
    target = str(target)
    X_train, y_train_raw = _split_target(train, target, "train")
    X_test, y_test_raw = _split_target(test, target, "test")
    if set(X_train.columns) != set(X_test.columns):
        only_train = sorted(map(str, set(X_train.columns) - set(X_test.columns)))
        only_test = sorted(map(str, set(X_test.columns) - set(X_train.columns)))
        parts = [f"only in train: {name_list(only_train)}"] * bool(only_train) + [f"only in test: {name_list(only_test)}"] * bool(only_test)
        raise DataError(f"the train and test tables have different columns ({'; '.join(parts)})")
    X_test = X_test[list(X_train.columns)]  # the same columns in another order: the training order
    X_train, X_test = _check_features(X_train, "train"), _check_features(X_test, "test")
    limits.check_levels(X_train)  # a text column too wide to one-hot encode
    y_train_names, y_test_names = _class_names(y_train_raw), _class_names(y_test_raw)
    classes = np.unique(y_train_names)
    if len(classes) < 2:
        raise DataError(
            f"the target column {target!r} has a single class ({one_line(classes[0], 80) if len(classes) else 'none'}) "
            "in the training data; a classifier needs at least two"
        )
    if len(classes) > limits.MAX_CLASSES:
        limits.check_classes(np.zeros(0, dtype=np.int64), tuple(classes), target)
    unseen = sorted(set(y_test_names) - set(classes))
    if unseen:
        raise DataError(f"the test data has classes not in the training data: {name_list(unseen)}")
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


def table_pool(data: Dataset, frame: pd.DataFrame, label: str = "pool") -> Dataset:
    """``data`` (a tabular dataset) with ``frame`` as its pool: the training feature columns (in
    any order) and the target column, labelled with training classes as the training data spells
    them. The pool gets the training tables' checks; its ids are ``frame``'s index (the row
    positions of a file read by :func:`read_table`)."""
    if data.kind != "tabular":
        raise DataError(f"{label}: {data.name} is an image dataset; give its pool as a folder or .zip of <class>/ folders")
    X, y = _split_target(frame, data.target, label)
    columns = list(data.X_train.columns)
    missing = [c for c in columns if c not in X.columns]
    extra = [c for c in X.columns if c not in columns]
    if missing or extra:
        parts = [f"missing {name_list(missing)}"] * bool(missing) + [f"not in the training data {name_list(extra)}"] * bool(extra)
        raise DataError(
            f"{label}: the pool must have the training set's columns ({name_list(columns, 20)} and the target "
            f"{data.target!r}); {'; '.join(parts)}"
        )
    X = _check_pool_features(X[columns], data.X_train, label)
    limits.check_levels(pd.concat([data.X_train, X], ignore_index=True))  # the preprocessing is fitted on both
    return data.with_pool(X.reset_index(drop=True), _pool_codes(y, data, label), frame.index.to_numpy())


def _check_pool_features(X: pd.DataFrame, X_train: pd.DataFrame, label: str) -> pd.DataFrame:
    """The training tables' feature checks, except that a column may be all missing in a few pool
    rows (it then takes the training column's type); a column holding text where the training
    column holds numbers (or the reverse) is refused, since one encoder sees both."""
    empty = [c for c in X.columns if X[c].isna().all()]
    checked = _check_features(X.drop(columns=empty), label)
    X = X.assign(**{c: checked[c] for c in checked.columns})
    for c in empty:
        X[c] = pd.Series(np.nan, index=X.index, dtype=np.float64 if _is_number(X_train[c]) else X_train[c].dtype)
    mixed = [c for c in checked.columns if _is_number(X[c]) != _is_number(X_train[c])]
    if mixed:
        c = mixed[0]
        kinds = ("numbers", "text") if _is_number(X_train[c]) else ("text", "numbers")
        raise DataError(
            f"{label}: the column {one_line(c, 80)!r} holds {kinds[1]} in the pool but {kinds[0]} in the training data"
            f"{f' (and {len(mixed) - 1} more columns)' if len(mixed) > 1 else ''}; write its values as the training data does"
        )
    return X


def _is_number(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype))


def _pool_codes(y: pd.Series, data: Dataset, label: str) -> np.ndarray:
    """Pool labels as training class codes, matched by name (integer-valued floats as integers)."""
    labels = _class_names(y)
    unknown = sorted(set(labels) - set(data.classes))
    if unknown:
        raise DataError(
            f"{label}: the target column {data.target!r} has classes not in the training data: {name_list(unknown)}; "
            f"the training classes are {name_list(data.classes)}"
        )
    codes = {c: i for i, c in enumerate(data.classes)}
    return np.array([codes[c] for c in labels], dtype=np.int64)


def split_table(
    frame: pd.DataFrame, target: str, test_size: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split; row ids are kept in the index."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise UsageError(f"the test fraction must lie between 0 and 1, not {test_size}")
    _, y = _split_target(frame, target, "data")
    labels = _class_names(y)
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        raise DataError(f"the target column {target!r} has a single class ({one_line(counts.index[0], 80)}); a classifier needs at least two")
    if len(counts) > limits.MAX_CLASSES:
        limits.check_classes(np.zeros(0, dtype=np.int64), tuple(counts.index), target)
    stratify = labels if counts.min() >= 2 else None
    try:
        return train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"cannot split {len(frame)} rows with test size {test_size}: {reason(exc)}") from exc


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
