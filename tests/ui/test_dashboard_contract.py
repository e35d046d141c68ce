"""What issue 11 asks of the dashboard, under Streamlit's AppTest, against the engine's own numbers
on the credit demo: the URL restores the choices, one sign convention (improvement), guardrails
before a harmful fix (what the action does to each sample, warnings above the numbers), remove as
the default action, exports named from the dataset's stem with a manifest that says why, and
upload problems in words.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, DASHBOARD, ERRORS, FIX, TIMEOUT, metric, start, visit
from streamlit.testing.v1 import AppTest

from ui import state


@pytest.fixture(scope="module")
def harmful(credit_analysis):
    """Relabelling for the small good -> bad group lowers global accuracy and creates new errors."""
    group = credit_analysis.errors.find("good", "bad")
    result = credit_analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)
    assert result.effect is not None and result.effect.accuracy_delta_mean < 0 and result.effect.errors_new > 0
    return group, result


def test_defaults_remove_and_the_url_holds_the_choices():
    at = start()
    assert at.session_state["action"] == "remove"
    params = dict(at.query_params)
    assert params["source"] == "demo" and params["demo"] == "credit" and params["action"] == "remove"
    assert params["metric"] == "gt_prob" and params["size"] == "10" and params["unit"] == "sample"
    # AppTest runs a switched-to page without the router, so the URL is checked on the first run.
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.session_state["recipe"] = "logistic-lbfgs"
    at.session_state[state.ERRORS_STEP] = state.ErrorChoice(group=("bad", "good"), tests=(12, 20))
    at.run()
    assert (at.query_params["recipe"], at.query_params["true"], at.query_params["pred"]) == ("logistic-lbfgs", "bad", "good")
    assert at.query_params["tests"] == "12,20"


def test_a_link_restores_group_tests_action_metric_size_and_unit(credit_analysis):
    group = credit_analysis.errors.find("bad", "good")
    tests = group.test_indices[:3]
    at = start({"true": "bad", "pred": "good", "tests": ",".join(map(str, tests)), "action": "upweight",
                "metric": "loss", "size": "4", "unit": "sample", "recipe": "default"})
    visit(at, ERRORS)
    assert at.session_state[state.ERRORS_STEP] == state.ErrorChoice(group=("bad", "good"), tests=tuple(tests))
    assert "Using **3 of" in " ".join(m.value for m in at.markdown)
    visit(at, ATTRIBUTION)
    assert at.selectbox(key="action").value == "upweight" and at.selectbox(key="metric").value == "loss"
    assert at.slider(key="size").value == 4
    result = at.session_state["result"]
    expected = credit_analysis.attribute(credit_analysis.group("bad", "good", tests), "upweight", "loss", 4, 0.05)
    assert result.ranking.test_indices == tuple(tests) and result.selected == expected.selected


def test_a_link_with_unknown_values_falls_back_to_the_defaults():
    at = start({"action": "delete-everything", "metric": "x", "size": "-3", "true": "bad", "pred": "good",
                "tests": "99999,abc", "alpha": "0.07", "ensemble": "1000"})
    assert at.session_state["action"] == "remove" and at.session_state["metric"] == "gt_prob"
    assert at.session_state["size"] == 10 and at.session_state["ensemble"] == 3
    visit(at, ERRORS)
    assert at.session_state[state.ERRORS_STEP].tests == ()  # not in the group: the whole group
    visit(at, ATTRIBUTION)
    assert at.session_state["alpha"] == 0.05  # 0.07 is not one of the offered levels


def test_a_link_to_an_upload_says_it_cannot_be_restored():
    at = start({"source": "table", "file": "wine.csv", "target": "quality", "test_size": "0.3",
                "model_source": "upload", "model_file": "wine.skops"})
    assert at.session_state["test_size"] == 0.3
    assert any("uploaded model, **wine.skops**" in i.value for i in at.info)
    assert at.query_params["model_file"] == "wine.skops"
    assert not at.exception
    info = " ".join(i.value for i in at.info)
    assert "wine.csv" in info and "cannot be restored from a link" in info
    assert at.query_params["file"] == "wine.csv"


def test_improvement_is_positive_toward_fixing_the_error_for_every_metric(credit_analysis):
    group = credit_analysis.errors.groups[0]
    at = start({"action": "remove", "metric": "loss"})
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    ranking = credit_analysis.ranking(group, "remove", "loss")
    table = at.dataframe[0].value
    # loss: lower is better, so the improvement is minus the raw change, best first.
    np.testing.assert_allclose(table["improvement"], -ranking.delta_mean, rtol=1e-9)
    np.testing.assert_allclose(table["change"], ranking.delta_mean, rtol=1e-9)
    assert list(table["improvement"]) == sorted(table["improvement"], reverse=True)
    assert (table.loc[table["selected"], "improvement"] > 0).all()
    effect = at.session_state["result"].effect
    assert metric(at, "Improvement of test loss").value == f"{-effect.delta_mean:+.4f}"
    # The raw change is one click away.
    toggle = at.toggle(key="raw_change")
    assert toggle.label.startswith("Show the raw change of the test loss (lower is better)") and not toggle.value
    toggle.set_value(True).run()
    assert not at.exception
    # Every row says why it is (or is not) in the selected group.
    assert set(table["why"]) <= {"selected", "beyond the group size", "does not improve", "p ≥ 0.05: not significant"}
    assert (table.loc[table["selected"], "why"] == "selected").all()
    # gt_prob: higher is better, so the improvement is the raw change.
    at.selectbox(key="metric").set_value("gt_prob").run()
    table = at.dataframe[0].value
    np.testing.assert_allclose(table["improvement"], table["change"], rtol=1e-12)


def test_guardrails_on_a_relabel_that_lowers_accuracy(credit_analysis, harmful):
    _, expected = harmful
    effect = expected.effect
    targets = credit_analysis.baseline.relabel_targets
    at = start({"true": "good", "pred": "bad", "action": "relabel", "metric": "gt_prob"})
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    warnings = [w.value for w in at.warning]
    assert f"Acting on the selected samples lowers global test accuracy by {-effect.accuracy_change:.3f}." in warnings
    assert any(f"creates {effect.errors_new} new errors elsewhere" in w for w in warnings)
    # Above every number of the page.
    order = [getattr(node, "type", "") for node in _walk(at.main)]
    assert max(i for i, t in enumerate(order) if t == "warning") < order.index("metric")
    acc = metric(at, "Global test accuracy")
    assert acc.delta.startswith(f"{effect.accuracy_change:+.3f}")
    net = metric(at, "Net benefit")
    assert (net.value, net.delta) == (f"{effect.net_benefit:+d}", f"{effect.errors_fixed} fixed, {effect.errors_new} new")
    # What the action does to each sample, before acting: the new label beside the old one.
    table = at.dataframe[0].value
    data = credit_analysis.data
    for i, edit in zip(table["train #"], table["edit"]):
        assert edit == f"{data.classes[data.y_train[i]]} → {data.classes[targets[i]]}"
    # The fix page repeats the warnings above its numbers, and names each sample's new label.
    visit(at, FIX)
    assert f"Acting on the selected samples lowers global test accuracy by {-effect.accuracy_change:.3f} " \
           f"({effect.accuracy_before:.3f} → {effect.accuracy_after:.3f})." in [w.value for w in at.warning]
    options = at.multiselect(key="fix_indices")
    assert sorted(options.value) == sorted(expected.selected)
    assert "traced to mislabeled" not in at.text_input(key="reason").placeholder


def _walk(node, out=None):
    out = [] if out is None else out
    for key in sorted(getattr(node, "children", None) or {}):
        child = node.children[key]
        out.append(child)
        _walk(child, out)
    return out


def test_exports_are_named_from_the_stem_and_the_manifest_says_why(credit_analysis, harmful, downloads):
    group, expected = harmful
    effect = expected.effect
    at = start({"true": "good", "pred": "bad", "action": "relabel", "metric": "gt_prob"})
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    # The attribution page offers the triage report (built on click); the fix page the data and manifest.
    assert set(downloads) == {"credit-triage.html", "credit-fixed.csv", "credit-manifest.json"}
    manifest = json.loads(downloads["credit-manifest.json"])
    why = manifest["why"]
    assert why["error_group"] == {"true": "good", "pred": "bad", "test_indices": list(group.test_indices)}
    assert (why["action"], why["metric"]) == ("relabel", "gt_prob")
    assert why["reliability"] == pytest.approx(expected.reliability)
    assert why["accuracy_before"] == pytest.approx(effect.accuracy_before)
    assert why["accuracy_after"] == pytest.approx(effect.accuracy_after)
    assert why["group_effect"]["errors_new"] == effect.errors_new
    assert why["group_effect"]["net_benefit"] == effect.net_benefit
    ranking = expected.ranking
    position = {int(i): k for k, i in enumerate(ranking.index)}
    assert [s["train_index"] for s in why["samples"]] == sorted(expected.selected)
    for sample in why["samples"]:
        k = position[sample["train_index"]]
        assert sample["delta_mean"] == pytest.approx(ranking.delta_mean[k])
        assert sample["p_value"] == pytest.approx(ranking.p_value[k])
        assert " → " in sample["edit"]


def test_an_uploaded_table_exports_its_stem_and_optionally_the_full_table(downloads):
    from tda_core.data import load_demo

    credit = load_demo("credit")
    frame = credit.X_train.assign(credit_risk=[credit.classes[c] for c in credit.y_train]).head(120)
    at = start({"action": "remove"})
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("wine.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    at.selectbox(key="target").set_value("credit_risk").run()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    assert "wine-fixed.csv" in downloads and "wine-manifest.json" in downloads
    at.checkbox(key="export_full").check().run()
    assert not at.exception
    full = downloads["wine-fixed-full.csv"].decode().splitlines()
    removed = len(at.multiselect(key="fix_indices").value)
    assert len(full) - 1 == 120 - removed  # every row of the upload but the removed ones
    assert full[0].split(",")[-1] == "split"


def test_a_junk_upload_is_explained_in_words():
    at = start()
    at.radio(key="source").set_value("table").run()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    at.file_uploader(key="table_file").set_value(("photo.csv", png, "text/csv")).run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and messages[0].startswith("photo.csv")
    for jargon in ("UnicodeDecodeError", "Error:", "0x89", "codec"):
        assert jargon not in messages[0], messages[0]


@pytest.mark.slow
def test_images_default_to_head_only_on_a_cpu_with_full_retraining_one_click_away():
    torch = pytest.importorskip("torch")
    at = start({"demo": "digits"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    mode = at.radio(key="net_mode")
    assert mode.value == ("full" if torch.cuda.is_available() else "head")
    # Full retraining is one click away, with its cost: 300 images x 3 seeds per action.
    assert any(c.value.startswith("Per action · **full**: about 900 models") for c in at.caption)
    assert at.query_params["demo"] == "digits"


def test_the_sidebar_follows_the_page_it_is_drawn_after():
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    at = start()
    at.radio(key="model_source").set_value("upload").run()
    model = sio.dumps(make_pipeline(StandardScaler(), LogisticRegression()))
    at.file_uploader(key="model_file").set_value(("pipe.skops", model, "application/octet-stream")).run()
    assert any("pipe.skops" in m.value for m in at.sidebar.markdown)
    at.radio(key="model_source").set_value("recipe").run()  # back to a recipe: the sidebar says so at once
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "pipe.skops" not in sidebar and "recipe `default`" in sidebar


def test_a_long_ranking_waits_for_a_click_with_its_estimate(credit_analysis):
    """With a slow rate measured in this session (here: 10 models a second), a ranking that is not
    in memory shows its cost and starts only on a click; one in memory says 'ready'."""
    data, recipe = credit_analysis.data, credit_analysis.recipe
    key = f"{data.fingerprint}|{recipe.fingerprint()}"
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.session_state["rates"] = {key: 10.0}
    at.session_state["action"] = "upweight"
    at.session_state["seed"] = 7  # an analysis of its own: no ranking in memory from the other tests
    at.run()
    visit(at, ERRORS)
    at.switch_page(ATTRIBUTION).run()
    assert not at.exception
    expected = "about 2,100 models, about 4 min"  # 700 samples x 3 seeds at 10 models/s
    assert any(expected in i.value for i in at.info), [i.value for i in at.info]
    start = [b for b in at.button if b.label.startswith("Start · ")]
    assert len(start) == 1 and start[0].label == f"Start · {expected}"
    assert not at.metric  # nothing was trained or shown
    assert any("upweight: " + expected in c.value for c in at.caption), [c.value for c in at.caption]
    assert at.selectbox(key="action").options == ["Remove", "Relabel to the next most likely class", "Upweight ×10",
                                                  "Add from the pool"]
    start[0].click().run()
    assert not at.exception and not at.error
    assert at.session_state["result"].ranking.action == "upweight"
    assert any("upweight: ready" in c.value for c in at.caption), [c.value for c in at.caption]
    # The labels stay the actions' names: the browser sends a choice back as its label.
    assert at.selectbox(key="action").options == ["Remove", "Relabel to the next most likely class", "Upweight ×10",
                                                  "Add from the pool"]


def test_a_link_restores_the_fix_list(credit_analysis, harmful):
    _, expected = harmful
    fix = sorted(expected.selected)[:4]
    at = start({"true": "good", "pred": "bad", "action": "relabel", "fix": ",".join(map(str, [*fix, 99999]))})
    visit(at, FIX)  # straight to the fix page, as a reload of it does
    assert sorted(at.multiselect(key="fix_indices").value) == fix  # 99999 is not a training sample
    assert at.query_params["fix"] == ",".join(map(str, fix))
    assert metric(at, "Test accuracy after")


@pytest.mark.slow
def test_a_link_to_the_census_demo_starts_in_candidate_mode_with_its_cost():
    at = start({"source": "demo", "demo": "census"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.checkbox(key="use_candidates").value is True and at.number_input(key="candidates").value == 200
    assert at.query_params["demo"] == "census"
    captions = " ".join(c.value for c in at.caption)
    # 200 candidates + a random check of 50, trained once (logistic-lbfgs: every seed is one model).
    assert "each action's ranking of single samples: about 250 models" in captions, captions
