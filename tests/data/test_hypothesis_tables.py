"""Property-based tests (hypothesis): generated tables with mixed dtypes, NaN, inf, huge values,
unicode and duplicate column names, nested cells and odd targets, fed to the loaders. Only the
project's own error type (:class:`tda_core._exceptions.TDAError`) may escape, its message is one
line, and a table that loads is one the standard preprocessing can encode into finite numbers."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tda_core._exceptions import TDAError
from tda_core.data import read_table, split_table, tabular_dataset
from tda_core.recipes._preprocessing import tabular_preprocessor

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

names = st.one_of(
    st.sampled_from(["x", "x", "y", "label", "row_id", "a b", "é", "名前", "", " ", "1", "a\nb", "tab\there"]),
    st.text(min_size=0, max_size=6),
    st.integers(-3, 3),
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308, 1e100, 0.5, np.nan])
scalars = st.one_of(st.none(), floats, st.integers(-10**6, 10**6), st.text(max_size=5), st.booleans(),
                    st.sampled_from(["1,5", "2,5", "1,234.5", "?", "n/a", "", "inf", "NaN", "1e400"]))
cells = st.one_of(scalars, st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@st.composite
def columns(draw, n: int) -> list:
    kind = draw(st.sampled_from(["float", "int", "text", "bool", "mixed", "nested", "category"]))
    if kind == "float":
        return draw(st.lists(floats, min_size=n, max_size=n))
    if kind == "int":
        return draw(st.lists(st.integers(-10**12, 10**12), min_size=n, max_size=n))
    if kind == "text":
        return draw(st.lists(st.text(max_size=4) | st.none(), min_size=n, max_size=n))
    if kind == "bool":
        return draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "category":
        return pd.Categorical(draw(st.lists(st.sampled_from(["r", "g", "b"]), min_size=n, max_size=n)))
    if kind == "mixed":
        return draw(st.lists(scalars, min_size=n, max_size=n))
    return draw(st.lists(cells, min_size=n, max_size=n))


@st.composite
def tables(draw) -> tuple[pd.DataFrame, object]:
    n = draw(st.integers(1, 24))
    width = draw(st.integers(1, 4))
    header = [draw(names) for _ in range(width)]
    data = {i: draw(columns(n)) for i in range(width)}
    frame = pd.DataFrame(data)
    target_values = draw(st.one_of(
        st.lists(st.sampled_from(["p", "q", "r"]), min_size=n, max_size=n),
        st.lists(st.sampled_from([0, 1, 2]), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.0, 1.0, 2.5, np.nan]), min_size=n, max_size=n),
        st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=n, max_size=n),
        st.lists(st.sampled_from(["a\nb", "é", "", " "]), min_size=n, max_size=n),
    ))
    target = draw(st.sampled_from(["y", "label", "a\nb", 0]))
    frame.columns = header
    frame[target] = target_values  # may replace a feature of the same name, or duplicate none
    return frame, target


def assert_one_line(exc: TDAError) -> None:
    assert str(exc) and "\n" not in str(exc) and "\r" not in str(exc), repr(str(exc))


def check_loaded(data) -> None:
    """What a table that loads guarantees: two or more classes, unique string column names, finite
    numbers, and features the standard preprocessing encodes into finite numbers."""
    assert data.n_classes >= 2 and set(np.unique(data.y_train)) <= set(range(data.n_classes))
    assert len(set(data.X_train.columns)) == data.X_train.shape[1] and all(isinstance(c, str) for c in data.X_train.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoded = tabular_preprocessor().fit(data.X_train).transform(data.X_test)
    assert np.isfinite(np.asarray(encoded, dtype=np.float64)).all()


@SETTINGS
@given(tables(), st.integers(0, 2**32 - 1))
def test_tabular_dataset_raises_only_tda_errors(table, seed):
    frame, target = table
    cut = max(1, len(frame) // 2)
    try:
        data = tabular_dataset(frame.iloc[:cut], frame.iloc[cut:] if len(frame) > cut else frame, target)
    except TDAError as exc:
        assert_one_line(exc)
        return
    check_loaded(data)


@SETTINGS
@given(tables())
def test_a_split_raises_only_tda_errors(table):
    frame, target = table
    try:
        train, test = split_table(frame, target, 0.3, seed=0)
        data = tabular_dataset(train, test, target)
    except TDAError as exc:
        assert_one_line(exc)
        return
    check_loaded(data)


@SETTINGS
@given(tables(), st.sampled_from(["csv", "parquet"]))
def test_files_round_trip_or_raise_only_tda_errors(table, kind):
    frame, target = table
    buffer = io.BytesIO()
    try:  # some generated frames cannot be written at all: nothing to read then
        frame.to_csv(buffer, index=False) if kind == "csv" else frame.to_parquet(buffer, index=False)
    except Exception:
        assume(False)
    try:
        read = read_table(buffer.getvalue(), f"upload.{kind}")
        train, test = split_table(read, str(target), 0.3, seed=0)
        data = tabular_dataset(train, test, str(target))
    except TDAError as exc:
        assert_one_line(exc)
        return
    check_loaded(data)


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 64, b"PAR1", b"a,b\n\"unclosed", "é,ü\n1,2\n".encode("utf-16"), b"\xff\xfe\xfd" * 30])
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_garbage_bytes_raise_only_tda_errors(garbage, kind):
    with pytest.raises(TDAError) as info:
        read_table(garbage, f"upload.{kind}")
    assert_one_line(info.value)
