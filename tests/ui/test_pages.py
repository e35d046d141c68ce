"""The dashboard's pages under Streamlit's AppTest, on the credit and digits demos, against the engine's own numbers.

tests/conftest.py gives the session an empty engine cache (TDA_CACHE_DIR), shared with the browser test.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = str(ROOT / "dashboard.py")
DATA, ERRORS, ATTRIBUTION, FIX = (
    "pages/1_data_and_model.py", "pages/2_errors.py", "pages/3_attribution.py", "pages/4_fix.py")
TIMEOUT = 120


@pytest.fixture(scope="session")
def engine():
    """The engine's own answer for the credit demo, computed without the dashboard."""
    from tda_core.analysis import Analysis
    from tda_core.demos import load_demo
    from tda_core.engine import RunConfig
    from tda_core.recipes import default_recipe

    data = load_demo("credit")
    analysis = Analysis(data, default_recipe(data), RunConfig())
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


def app() -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    return at.run()


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label or m.label.startswith(label)]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_data_page_shows_the_demo_preview():
    at = app()
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Data and model"
    assert metric(at, "Training rows") == "800"
    assert metric(at, "Test rows") == "200"
    assert metric(at, "Feature columns") == "6"
    assert at.selectbox(key="recipe").options[:2] == ["default · the default for this kind of data",
                                                      "logistic-sgd · logistic regression, averaged SGD (the tabular default)"]


def test_errors_page_matches_the_engine_and_choices_carry_over(engine):
    analysis, group, _ = engine
    at = app()
    at.number_input(key="ensemble").set_value(3).run()  # drive a widget on the data page
    visit(at, ERRORS)
    report = analysis.errors
    assert metric(at, "Test accuracy") == f"{report.accuracy_mean:.3f} ± {report.accuracy_std:.3f}"
    assert metric(at, "Error groups") == str(len(report.groups))
    # The largest group is chosen first; the selectbox offers every group, largest first.
    assert at.session_state["group"] == (group.true, group.pred)
    box = at.selectbox(key="group")
    assert box.value == (group.true, group.pred)
    assert len(box.options) == len(report.groups)
    # Choose the other group by keyboard-accessible selectbox; it survives a trip to another page.
    other = report.groups[1]
    box.set_value((other.true, other.pred)).run()
    visit(at, DATA)
    visit(at, ERRORS)
    assert at.session_state["group"] == (other.true, other.pred)
    assert f"{other.true} → {other.pred}" in at.subheader[0].value


def test_attribution_page_shows_the_engines_numbers(engine):
    analysis, group, expected = engine
    at = app()
    visit(at, ERRORS)
    at.session_state["action"], at.session_state["metric"], at.session_state["size"] = "relabel", "gt_prob", 10
    visit(at, ATTRIBUTION)
    effect = expected.effect
    assert effect is not None and len(expected.selected) == 10
    assert metric(at, "Selected training samples") == "10 of 10"
    change = [m for m in at.metric if m.label == "Change of true-class probability"][0]
    assert change.value == f"{effect.delta_mean:+.4f}"
    assert change.delta.startswith(f"± {effect.delta_std:.4f}")
    acc = [m for m in at.metric if m.label == "Global test accuracy"][0]
    assert acc.value == f"{effect.accuracy_after_mean:.3f}"
    assert acc.delta == f"{effect.accuracy_delta_mean:+.3f} ± {effect.accuracy_delta_std:.3f}"
    table = at.dataframe[0].value
    top = table.head(10)
    assert list(top["train index"]) == list(expected.ranking.train_index[:10])
    np.testing.assert_allclose(top["effect"], expected.ranking.delta_mean[:10], rtol=1e-6)
    np.testing.assert_allclose(top["p-value"], expected.ranking.p_value[:10], rtol=1e-6)
    assert set(table.loc[table["selected"], "train index"]) == set(expected.selected)
    assert "measured by retraining" in " ".join(c.value for c in at.caption).lower()

    # Changing the metric and the size re-ranks from memory: no model is retrained for the ranking.
    result = at.session_state["result"]
    at.selectbox(key="metric").set_value("loss").run()
    at.slider(key="size").set_value(3).run()
    assert not at.exception
    assert metric(at, "Selected training samples").endswith("of 3")
    assert at.session_state["result"].ranking.metric == "loss"
    assert at.session_state["result"] is not result


def test_fix_page_exports_the_attributed_samples(engine):
    _, _, expected = engine
    at = app()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(expected.selected)
    effect = expected.effect
    assert metric(at, "Test accuracy before") == f"{effect.accuracy_before_mean:.3f}"
    assert metric(at, "Test accuracy after") == f"{effect.accuracy_after_mean:.3f}"
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Corrected training set (CSV)", "Manifest (JSON)"]
    # Editing the selection retrains with just those samples, and nothing breaks.
    at.multiselect(key="fix_indices").set_value(list(expected.selected[:2])).run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 2


def test_garbage_csv_upload_shows_one_error():
    at = app()
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("broken.csv", b"\x00\xff\xfe garbage \x00" * 50, "text/csv")).run()
    assert not at.exception
    assert len(errors(at)) == 1, errors(at)
    visit(at, ERRORS)
    assert len(errors(at)) == 1


def test_uploaded_csv_with_split_runs_the_workflow(engine):
    analysis, _, _ = engine
    data = analysis.data
    frame = data.X_train.assign(credit_risk=[data.classes[c] for c in data.y_train])
    at = app()
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("credit.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not errors(at)
    at.selectbox(key="target").set_value("credit_risk").run()
    assert metric(at, "Training rows") == "640" and metric(at, "Test rows") == "160"
    visit(at, ERRORS)
    assert metric(at, "Test accuracy")


def test_pickle_model_is_refused_without_trust():
    import joblib
    from sklearn.linear_model import LogisticRegression

    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(), buffer)
    at = app()
    at.radio(key="model_source").set_value("upload").run()
    at.file_uploader(key="model_file").set_value(("model.pkl", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert len(errors(at)) == 1 and "trust" in errors(at)[0].lower()
    at.checkbox(key="trust").check().run()
    assert not at.exception and not errors(at)
    assert any("trust" in w.value for w in at.warning)


def test_skops_model_shows_its_type_and_params():
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tda_core.models import tabular_preprocessor

    model = make_pipeline(tabular_preprocessor(), LogisticRegression(C=0.5, max_iter=500))
    at = app()
    at.radio(key="model_source").set_value("upload").run()
    at.file_uploader(key="model_file").set_value(("pipe.skops", sio.dumps(model), "application/octet-stream")).run()
    # The column selector is not a type skops trusts by default: refused until the user trusts the file.
    assert not at.exception and len(errors(at)) == 1 and "I trust this file" in errors(at)[0]
    at.checkbox(key="trust").check().run()
    assert not at.exception and not errors(at), errors(at)
    assert any("(pipe.skops)**" in m.value for m in at.markdown)  # named after the estimator, then the file
    params = at.dataframe[0].value
    assert "logisticregression__C" in list(params["parameter"])


# --- candidate mode -----------------------------------------------------------------------

CANDIDATES = 30


@pytest.fixture(scope="session")
def candidate_engine(engine):
    from tda_core.analysis import Analysis
    from tda_core.engine import RunConfig

    analysis = Analysis(engine[0].data, engine[0].recipe, RunConfig(candidates=CANDIDATES))
    group = analysis.errors.groups[0]
    return analysis, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


def test_candidate_mode_shows_retrained_rows_and_estimates_apart(candidate_engine):
    analysis, expected = candidate_engine
    estimates = expected.ranking.estimates
    assert estimates is not None and len(estimates.retrained) < analysis.data.n_train
    at = app()
    at.checkbox(key="use_candidates").check().run()
    at.number_input(key="candidates").set_value(CANDIDATES).run()
    assert not at.exception and not errors(at)
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    banner = [i.value for i in at.info if "Candidate mode" in i.value]
    assert len(banner) == 1, [i.value for i in at.info]
    assert f"Spearman ρ(estimate, retrained) = {estimates.spearman:.2f}" in banner[0]
    assert f"estimates for all {analysis.data.n_train:,} samples, {len(estimates.retrained)} retrained exactly" in banner[0]
    assert any("comes from retraining" in c.value for c in at.caption)
    # The ranking table holds exactly the retrained samples, with the engine's retrained numbers.
    table = at.dataframe[0].value
    assert sorted(table["train index"]) == sorted(estimates.retrained)
    assert list(table["train index"]) == list(expected.ranking.train_index)
    np.testing.assert_allclose(table["effect"], expected.ranking.delta_mean, rtol=1e-6)
    assert set(table.loc[table["selected"], "train index"]) == set(expected.selected)
    if expected.effect is not None:
        change = [m for m in at.metric if m.label == "Change of true-class probability"][0]
        assert change.value == f"{expected.effect.delta_mean:+.4f}"
    # The other samples are listed only as estimates, in their own expander.
    assert any(e.label.startswith("Estimates only, not retrained") for e in at.expander)
    rest = at.dataframe[1].value
    assert "estimated effect" in rest.columns and "effect" not in rest.columns
    assert len(rest) == analysis.data.n_train - len(estimates.retrained)
    assert not set(rest["train index"]) & set(estimates.retrained)


# --- image data (digits demo, head mode, few epochs) --------------------------------------

DIGITS = {"mode": "head", "epochs": 1, "ensemble": 2}


@pytest.fixture(scope="session")
def digits_engine():
    pytest.importorskip("torch")
    from tda_core.analysis import Analysis
    from tda_core.demos import load_demo
    from tda_core.engine import RunConfig
    from tda_core.recipes import default_recipe

    data = load_demo("digits")
    analysis = Analysis(data, default_recipe(data, epochs=DIGITS["epochs"], mode=DIGITS["mode"]),
                        RunConfig(ensemble=DIGITS["ensemble"]))
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


def gallery_captions(at: AppTest) -> list[str]:
    """The caption under each gallery image, in order (a gallery cell is a column with one image)."""
    return [col.caption[0].value for col in at.columns if len(col.image) == 1 and len(col.caption) == 1]


def digits_app() -> AppTest:
    at = app()
    at.selectbox(key="demo").set_value("digits").run()
    at.radio(key="net_mode").set_value(DIGITS["mode"]).run()
    at.number_input(key="epochs").set_value(DIGITS["epochs"]).run()
    at.number_input(key="ensemble").set_value(DIGITS["ensemble"]).run()
    assert not at.exception and not errors(at), errors(at)
    return at


def test_image_demo_data_errors_and_attribution(digits_engine):
    analysis, group, expected = digits_engine
    data = analysis.data
    at = digits_app()
    # Data page: image metrics, the network controls, a capped preview gallery.
    assert metric(at, "Image shape") == "×".join(map(str, data.X_train.shape[1:]))
    assert at.radio(key="net_mode").options == ["Full: retrain every layer",
                                                "Head only (fast): retrains only the last layer on frozen features"]
    assert any("head only" in m.value for m in at.markdown)
    # The preview shows a few images of every class, not just the first rows (all one class).
    assert len(at.image) == 20
    assert gallery_captions(at) == [data.classes[c] for c in range(10)] * 2

    # Errors page: the engine's accuracy; a gallery of the group's misclassified test images.
    visit(at, ERRORS)
    report = analysis.errors
    assert metric(at, "Test accuracy") == f"{report.accuracy_mean:.3f} ± {report.accuracy_std:.3f}"
    assert at.session_state["group"] == (group.true, group.pred)
    pred = data.class_index(group.pred)
    expected_captions = [f"#{t} · p({group.pred}) {report.proba_mean[t, pred]:.2f}" for t in group.test_indices][:32]
    assert len(at.image) == len(expected_captions)
    assert gallery_captions(at) == expected_captions

    # Attribution page: the engine's group effect; a gallery of the top-ranked training images.
    visit(at, ATTRIBUTION)
    effect = expected.effect
    assert effect is not None
    assert metric(at, "Selected training samples") == f"{len(expected.selected)} of 10"
    change = [m for m in at.metric if m.label == "Change of true-class probability"][0]
    assert change.value == f"{effect.delta_mean:+.4f}"
    acc = [m for m in at.metric if m.label == "Global test accuracy"][0]
    assert acc.delta == f"{effect.accuracy_delta_mean:+.3f} ± {effect.accuracy_delta_std:.3f}"
    ranking = expected.ranking
    assert len(at.image) == 24
    captions = gallery_captions(at)
    for pos, caption in enumerate(captions):
        i = int(ranking.train_index[pos])
        star = "★ " if i in expected.selected else ""
        assert caption == (f"{star}#{i} · {data.classes[data.y_train[i]]}  \nΔ {ranking.delta_mean[pos]:+.2g} · "
                           f"p {ranking.p_value[pos]:.2g}")
    table = at.dataframe[0].value
    assert "file" in table.columns and list(table["train index"][:24]) == list(ranking.train_index[:24])

    # Fix page: the same group effect, and an export for image data too.
    visit(at, FIX)
    assert metric(at, "Test accuracy after") == f"{effect.accuracy_after_mean:.3f}"
