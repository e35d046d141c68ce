"""Tabular loading: CSV and Parquet, integer or string labels, missing values, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tda_core.analysis import Analysis
from tda_core.data import load_tabular, read_table
from tda_core.demos import load_demo
from tda_core.engine import RunConfig
from tda_core.exceptions import DataError, UsageError
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
    np.testing.assert_array_equal(from_csv.y_train, from_parquet.y_train)
    assert from_csv.n_train == 160 and from_csv.n_test == 40
    # Stratified: the class balance of the split follows the data.
    assert abs(from_csv.y_test.mean() - frame["label"].mean()) < 0.03


def test_integer_labels_and_missing_values_run_end_to_end(frame, tmp_path):
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_tabular("label", data=tmp_path / "t.csv")
    analysis = Analysis(data, default_recipe(data), RunConfig(use_cache=False))
    assert analysis.errors.accuracy_mean > 0.7
    group = analysis.group("1", "0")  # classes named as the data spells them
    ranking = analysis.ranking(group, "remove", "loss")
    assert np.isfinite(ranking.delta_mean).all() and len(ranking.train_index) == data.n_train
    with pytest.raises(UsageError, match="unknown class '2'"):
        analysis.group("2", "0")


def test_bad_tables_are_refused_with_a_reason(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01 not,a\ncsv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type .xlsx"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(DataError, match="no target column 'y'"):
        load_tabular("y", data=tmp_path / "bad.csv")


def test_credit_demo_matches_the_paper_setup():
    data = load_demo("credit")
    assert (data.n_train, data.n_test) == (800, 200)
    assert list(data.X_train.columns) == ["checking_account", "duration_months", "credit_history",
                                         "credit_amount", "installment_rate", "age"]
    assert data.classes == ("bad", "good")
    assert (data.y_train == 1).mean() == pytest.approx(0.7, abs=0.01)  # 700 good of 1000
