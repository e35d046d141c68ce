"""Issue 13 on the dashboard, under Streamlit's AppTest, against the engine's own answers on the
credit demo (default logistic recipe, candidate groups: a few dozen retrains): the feature
attribution view beside the ranking, the triage report download, hand edits on the fix page, and
manifests loaded back (byte-identical CSV; a manifest for other data is one error)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("streamlit")

from apptest_support import ATTRIBUTION, ERRORS, FIX, start, visit


@pytest.fixture(scope="module")
def credit_result():
    """The engine's answer for the page's choices: the credit demo, the default recipe, the first
    error group, remove, candidate groups."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe

    data = load_demo("credit")
    analysis = Analysis(data, default_recipe(data), RunConfig())
    group = analysis.errors.groups[0]
    return analysis, analysis.attribute(group, "remove", "gt_prob", 10, 0.05, unit="group")


def test_feature_view_and_triage_report(credit_result, downloads):
    from tda_core._feature_attribution import feature_attribution
    from ui.explain import inputs

    analysis, result = credit_result
    at = start(unit="group")
    visit(at, ERRORS)
    assert at.session_state["group"] == (result.group.true, result.group.pred)
    visit(at, ATTRIBUTION)
    # Not computed until asked.
    assert not any(d.value.columns[0] == "sample" for d in at.dataframe if hasattr(d.value, "columns"))
    at.toggle(key="show_features").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]

    test_index, train = inputs(result)
    assert test_index == result.group.test_indices[0] and len(train) == min(5, len(result.selected) or 5)
    expected = feature_attribution(analysis, test_index, list(train), pred=result.group.pred, true=result.group.true)
    assert any(m.value == expected.sentence for m in at.markdown)
    assert any(expected.method in c.value for c in at.caption)
    tables = [d.value for d in at.dataframe if list(getattr(d.value, "columns", []))[:1] == ["sample"]]
    assert len(tables) == 1
    table = tables[0]
    records = expected.records()
    assert list(table["sample"]) == [r["sample"] for r in records]
    for feature in expected.features:
        column = feature + (" ★" if feature in expected.shared else "")
        np.testing.assert_allclose(table[column].to_numpy(float), [r[feature] for r in records], rtol=1e-9, atol=1e-12)

    # The report: one self-contained HTML file, built on click, with the ranking's reliability.
    report = downloads["credit-triage.html"]
    html = report() if callable(report) else report
    assert html.startswith(b"<!DOCTYPE html")
    assert f"Reliability of the ranking: {result.reliability:.2f}".encode() in html
    assert expected.sentence.encode() in html or expected.sentence.replace("'", "&#x27;").encode() in html


def other_label(data, i: int) -> str:
    return next(str(c) for k, c in enumerate(data.classes) if k != data.y_train[i])


def test_hand_edits_export_and_manifest_round_trip(credit_result, downloads):
    from tda_core._fix import hand_edited_training_set

    analysis, _ = credit_result
    data = analysis.data
    edits = {3: {"remove": True, "new label": None}, 7: {"remove": False, "new label": other_label(data, 7)},
             11: {"remove": False, "new label": None}}
    at = start(fix_mode="hand", hand_indices=[3, 7, 11], hand_edits=edits)
    visit(at, FIX)
    editor = [d.value for d in at.dataframe if "new label" in d.value.columns]
    assert len(editor) == 1 and list(editor[0]["train #"]) == [3, 7, 11] and list(editor[0]["remove"]) == [True, False, False]
    csv, manifest = downloads["credit-hand-fixed.csv"], downloads["credit-hand-fixed-manifest.json"]
    table, expected = hand_edited_training_set(data, remove=[3], labels={7: other_label(data, 7)})
    assert csv == table.to_csv(index=False).encode()
    loaded = json.loads(manifest)
    assert loaded["action"] == "hand edits" and loaded["changes"] == expected["changes"]

    # Loaded back: the same CSV, byte for byte.
    at.radio(key="fix_mode").set_value("manifest").run()
    at.file_uploader(key="manifest_file").set_value(("credit-hand-fixed-manifest.json", manifest, "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert downloads["credit-replayed.csv"] == csv
    replayed = json.loads(downloads["credit-replayed-manifest.json"])
    assert {k: v for k, v in replayed.items() if k != "created"} == {k: v for k, v in loaded.items() if k != "created"}

    # A manifest for other data: one error line, no download.
    other = dict(loaded, data_fingerprint="0" * 16, dataset="wine.csv")
    del downloads["credit-replayed.csv"]
    at.file_uploader(key="manifest_file").set_value(("wine-manifest.json", json.dumps(other).encode(), "application/json")).run()
    assert not at.exception
    assert len(at.error) == 1 and "other data (wine.csv)" in at.error[0].value
    assert "credit-replayed.csv" not in downloads


def test_the_actions_manifest_round_trips(credit_result, downloads):
    """The rule-based export (remove on two samples) loaded back gives the same CSV."""
    at = start(action="remove", fix_indices=[5, 9])
    visit(at, ERRORS)
    visit(at, FIX)
    csv, manifest = downloads["credit-fixed.csv"], downloads["credit-manifest.json"]
    at.radio(key="fix_mode").set_value("manifest").run()
    at.file_uploader(key="manifest_file").set_value(("credit-manifest.json", manifest, "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert downloads["credit-replayed.csv"] == csv


def test_no_attribution_is_one_info_line_and_results_are_kept(credit_result, monkeypatch):
    """A model or row the engine cannot attribute is one st.info line; an attribution is computed
    once per (analysis, error, training samples), not on every rerun."""
    import ui.explain
    from tda_core._exceptions import ModelError

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[1:])
        raise ModelError("feature attribution is not available for this model on tables")

    monkeypatch.setattr(ui.explain, "feature_attribution", refuse)
    at = start(unit="group")
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert not calls
    at.toggle(key="show_features").set_value(True).run()
    assert not at.exception and not at.error
    assert [i.value for i in at.info if "feature attribution" in i.value] == [
        "feature attribution is not available for this model on tables"]
    at.run()
    assert len(calls) == 1


def test_image_overlays_on_the_digits_demo():
    """Digits (one epoch, two members): the error's and its training images' saliency overlays."""
    at = start(demo="digits", epochs=1, ensemble=2, unit="group")
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    before = len(at.image)
    at.toggle(key="show_features").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert any(m.value.startswith("The error and its top training samples share") for m in at.markdown) \
        or any("share no" in m.value for m in at.markdown)
    overlays = [col.caption[0].value for col in at.columns if len(col.image) == 1 and len(col.caption) == 1]
    assert len(at.image) >= before + 2 and any(c.endswith("(error)") for c in overlays)
