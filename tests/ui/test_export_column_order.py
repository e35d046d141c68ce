"""Dashboard exports keep the uploaded file's column order (issue 19, "Exports move the target column
last"): the corrected training set, the full table and a replayed manifest list the user's columns
exactly as the uploaded CSV's header does, the target where it was, after the export's own row id."""

from __future__ import annotations

import json
from io import BytesIO

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, DASHBOARD, ERRORS, FIX, TIMEOUT, visit
from streamlit.testing.v1 import AppTest


def credit_with_the_target_inside(credit) -> tuple[bytes, list[str]]:
    """The credit demo's training rows as a CSV whose target column sits second, not last."""
    frame = credit.X_train.assign(credit_risk=[credit.classes[c] for c in credit.y_train])
    columns = [frame.columns[0], "credit_risk", *[c for c in frame.columns[1:] if c != "credit_risk"]]
    assert columns[-1] != "credit_risk"
    return frame[columns].to_csv(index=False).encode(), [str(c) for c in columns]


def test_the_exports_keep_the_uploaded_header_order(credit, downloads):
    data, header = credit_with_the_target_inside(credit)
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run()
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("ordered.csv", data, "text/csv")).run()
    at.selectbox(key="target").set_value("credit_risk").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    assert at.multiselect(key="fix_indices").value  # seeded from the ranking's selection

    exported = pd.read_csv(BytesIO(downloads["ordered-fixed.csv"]))
    assert list(exported.columns) == ["row_id", *header]  # the target second, as uploaded
    manifest = json.loads(downloads["ordered-manifest.json"])
    assert manifest["columns"]["order"] == header

    # The full table (training and test rows) keeps the same order, with its split column last.
    at.checkbox(key="export_full").check().run()
    assert not at.exception and not at.error
    full = pd.read_csv(BytesIO(downloads["ordered-fixed-full.csv"]))
    assert list(full.columns) == ["row_id", *header, "split"]

    # A replayed manifest writes the same table, columns in the same order.
    at.radio(key="fix_mode").set_value("manifest").run()
    at.file_uploader(key="manifest_file").set_value(("ordered-manifest.json", downloads["ordered-manifest.json"],
                                                     "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert downloads["ordered-replayed.csv"] == downloads["ordered-fixed.csv"]


def test_a_manifest_without_a_recorded_order_is_replayed_in_the_uploaded_order(credit, downloads):
    """An older manifest that records no column order: the replay falls back to the upload's header,
    not to the target last."""
    from tda_core._fix import hand_edited_training_set
    from tda_core.data import split_table, tabular_dataset

    data, header = credit_with_the_target_inside(credit)
    frame = pd.read_csv(BytesIO(data))
    train, test = split_table(frame, "credit_risk", 0.2, seed=0)  # as the data page splits it
    dataset = tabular_dataset(train, test, "credit_risk", name="ordered.csv")
    _, manifest = hand_edited_training_set(dataset, remove=[0, 1])
    del manifest["columns"]["order"]

    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run()
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("ordered.csv", data, "text/csv")).run()
    at.selectbox(key="target").set_value("credit_risk").run()
    visit(at, ERRORS)
    visit(at, FIX)
    at.radio(key="fix_mode").set_value("manifest").run()
    at.file_uploader(key="manifest_file").set_value(("old.json", json.dumps(manifest).encode(), "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    replayed = pd.read_csv(BytesIO(downloads["ordered-replayed.csv"]))
    assert list(replayed.columns) == ["row_id", *header]
    assert len(replayed) == dataset.n_train - 2
