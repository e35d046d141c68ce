"""Dead ends and vague words (issue 21, item 8), under AppTest, driven by the pages' widgets: a
model without test errors says what to try next and shows the predictions closest to an error;
an empty CSV says it is empty; a typed training number adds that row only (one numbering in the
pickers, not also the original row ids); counts read "1 test sample", never "1 test samples"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from apptest_support import DASHBOARD, ERRORS, FIX, TIMEOUT, start, visit
from streamlit.testing.v1 import AppTest


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value((name, data, "text/csv")).run()
    return at


def test_no_test_errors_says_what_to_try_and_shows_the_closest_predictions():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-4, 0.5, 60), rng.normal(4, 0.5, 60)])
    table = pd.DataFrame({"x": x, "z": rng.normal(0, 1, 120), "kind": ["left"] * 60 + ["right"] * 60})
    at = upload(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run(), "apart.csv", table.to_csv(index=False).encode())
    assert not at.exception and not at.error, [e.value for e in at.error]
    visit(at, ERRORS)
    assert any(s.value.startswith("The baseline ensemble makes no test errors on these 24 test samples") for s in at.success)
    text = " ".join(m.value for m in at.markdown)
    assert "What to try next" in text and "a larger test fraction** (now 20%)" in text and "a weaker model" in text
    closest = next(d.value for d in at.dataframe if "margin" in d.value.columns)
    assert len(closest) == 10 and (closest["margin"] >= 0).all() and closest["margin"].is_monotonic_increasing
    assert (closest["p(true)"] > closest["p(next)"]).all()


def test_an_empty_csv_says_it_is_empty():
    at = upload(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run(), "empty.csv", b"")
    errors = [e.value for e in at.error]
    assert any("empty.csv" in e and "the file is empty (no header row, no rows)" in e for e in errors), errors
    assert not any("(EmptyDataError" in e for e in errors)


def test_a_typed_training_number_adds_that_row_only(credit_analysis):
    at = start(fix_mode="hand")
    visit(at, ERRORS)
    visit(at, FIX)
    at.text_input(key="hand_typed").set_value("557, 12-14, x9").run()
    assert not at.exception
    assert sorted(at.session_state["hand_indices"]) == [12, 13, 14, 557]
    assert at.text_input(key="hand_typed").value == "x9"  # what is not a training number stays, to be corrected
    options = at.multiselect(key="hand_indices").options
    assert [o for o in options if "557" in o] == [f"train #557 · {credit_analysis.data.classes[credit_analysis.data.y_train[557]]}"]
    # Counts in words: a group of one test sample is "1 test sample".
    visit(at, ERRORS)
    labels = at.selectbox(key="group").options
    assert not [o for o in labels if o.endswith(" 1 test samples") or " 1 errors " in o], labels
