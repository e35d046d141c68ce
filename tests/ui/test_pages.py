"""The dashboard's pages under Streamlit's AppTest, against the engine's own numbers: the credit demo
with its default recipe, a deterministic model (logistic-lbfgs), a checkpoint recipe with a low
reliability, candidate groups, bad uploads, and the digits image demo (slow).

tests/conftest.py gives the session an empty engine cache (TDA_CACHE_DIR), shared by the engine
fixtures here and the pages: a fixture pays for the retrains once, the page reads them back.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from ui import tables

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")
DATA, ERRORS, ATTRIBUTION, FIX = (
    "pages/1_data_and_model.py", "pages/2_errors.py", "pages/3_attribution.py", "pages/4_fix.py")
TIMEOUT = 120
DASH = "—"
SMALL_ROWS = 100  # rows of the small credit table uploaded for the slower recipes (80 train, 20 test)


# --- the engine's own answers ---------------------------------------------------------------


@pytest.fixture(scope="session")
def engine():
    """The engine's own answer for the credit demo, computed without the dashboard."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe

    data = load_demo("credit")
    analysis = Analysis(data, default_recipe(data), RunConfig())
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


def small_table() -> bytes:
    from tda_core.data import load_demo

    data = load_demo("credit")
    frame = data.X_train.assign(credit_risk=[data.classes[c] for c in data.y_train]).head(SMALL_ROWS)
    return frame.to_csv(index=False).encode()


def small_analysis(recipe: str, ensemble: int):
    """The engine on the small table, split as the data page splits an upload (20 %, seed 0)."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import read_table, split_table, tabular_dataset
    from tda_core.recipes import named_recipe

    train, test = split_table(read_table(small_table(), "small.csv"), "credit_risk", 0.2, seed=0)
    data = tabular_dataset(train, test, "credit_risk", name="small.csv")
    return Analysis(data, named_recipe(recipe, data), RunConfig(ensemble=ensemble))


@pytest.fixture(scope="session")
def deterministic_engine():
    """logistic-lbfgs on the credit demo: a deterministic model, ranked by candidate groups (cheap)."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import named_recipe

    data = load_demo("credit")
    analysis = Analysis(data, named_recipe("logistic-lbfgs", data), RunConfig())
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05, unit="group")


@pytest.fixture(scope="session")
def small_deterministic_engine():
    """logistic-lbfgs ranking single samples of the small table (one retrain per sample)."""
    analysis = small_analysis("logistic-lbfgs", 3)
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


@pytest.fixture(scope="session")
def low_reliability_engine():
    """paper-sgd (checkpoints 30/40/50 of one run), 6 members = 2 runs, on the small table."""
    analysis = small_analysis("paper-sgd", 6)
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


# --- driving the app ---------------------------------------------------------------------------


def app(action: str = "relabel") -> AppTest:
    """The dashboard's first run. The engine fixtures relabel (the dashboard's default is remove)."""
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.session_state["action"] = action
    return at.run()


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str):
    found = [m for m in at.metric if m.label == label or m.label.startswith(label)]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def text(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def element_order(at: AppTest) -> list[str]:
    """The main area's element types, in page order (depth first)."""
    def walk(node, out):
        for key in sorted(getattr(node, "children", None) or {}):
            child = node.children[key]
            out.append(getattr(child, "type", ""))
            walk(child, out)
        return out
    return walk(at.main, [])


def upload_small_table(at: AppTest, recipe: str, ensemble: int) -> AppTest:
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("small.csv", small_table(), "text/csv")).run()
    at.selectbox(key="target").set_value("credit_risk").run()
    at.selectbox(key="recipe").set_value(recipe).run()
    at.number_input(key="ensemble").set_value(ensemble).run()
    assert not at.exception and not errors(at), errors(at)
    return at


def assert_warnings_above_numbers(at: AppTest, expected) -> None:
    """One st.warning per engine warning, in order, above every number of the page."""
    assert [w.value for w in at.warning] == list(expected)
    order = element_order(at)
    if expected:
        assert max(i for i, t in enumerate(order) if t == "warning") < order.index("metric")


# --- credit demo, default recipe ---------------------------------------------------------------


def test_data_page_shows_the_demo_preview():
    at = app()
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Data and model"
    assert metric(at, "Training rows").value == "700"  # 100 more rows are the pool
    assert metric(at, "Test rows").value == "200"
    assert metric(at, "Feature columns").value == "6"
    assert at.selectbox(key="recipe").options[:2] == ["default · the default for this kind of data",
                                                      "logistic-sgd · logistic regression, averaged SGD (the tabular default)"]
    assert at.number_input(key="ensemble").min == 1
    assert any("members: independent seeds" in m.value for m in at.markdown)
    assert "members" not in [r.key for r in at.radio]  # the members choice is for networks only


def test_errors_page_matches_the_engine_and_choices_carry_over(engine):
    analysis, group, _ = engine
    at = app()
    at.number_input(key="ensemble").set_value(3).run()  # drive a widget on the data page
    visit(at, ERRORS)
    report = analysis.errors
    accuracy = metric(at, "Test accuracy")
    assert (accuracy.value, accuracy.delta) == (f"{report.accuracy:.3f}", f"± {report.accuracy_std:.3f} over members")
    assert metric(at, "Error groups").value == str(len(report.groups))
    # The largest group is chosen first; the selectbox offers every group, largest first.
    assert at.session_state["group"] == (group.true, group.pred)
    box = at.selectbox(key="group")
    assert box.value == (group.true, group.pred)
    assert len(box.options) == len(report.groups) + len(analysis.slices)  # then the error slices
    # Choose the other group by keyboard-accessible selectbox; it survives a trip to another page.
    other = report.groups[1]
    box.set_value((other.true, other.pred)).run()
    visit(at, DATA)
    visit(at, ERRORS)
    assert at.session_state["group"] == (other.true, other.pred)
    assert any(f"Test samples of {other.true} → {other.pred}" == h.value for h in at.subheader)


def test_attribution_page_shows_the_engines_numbers(engine):
    from tda_core._stats import reliability_verdict

    _, group, expected = engine
    at = app()
    visit(at, ERRORS)
    at.session_state["action"], at.session_state["metric"], at.session_state["size"] = "relabel", "gt_prob", 10
    visit(at, ATTRIBUTION)
    effect = expected.effect
    assert effect is not None and len(expected.selected) == 10 and not expected.deterministic
    # Reliability: the number and the engine's verdict in words.
    assert metric(at, "Reliability of the ranking").value == f"{expected.reliability:.2f}"
    level, _, meaning = reliability_verdict(expected.reliability).partition(": ")
    assert f"Reliability is **{level}**: {meaning}." in text(at)
    # The engine's warnings (here: the group fixes errors and creates others), above the numbers.
    assert expected.warnings
    assert_warnings_above_numbers(at, expected.warnings)
    assert metric(at, "Selected training samples").value == "10 of 10"
    change = metric(at, "Improvement of true-class probability")
    assert change.value == f"{effect.improvement:+.4f}"
    assert change.delta.startswith(f"± {effect.delta_std:.4f}")
    assert metric(at, "p-value of the group effect").value == f"{effect.p_value:.2g}"
    acc = metric(at, "Global test accuracy")
    assert acc.value == f"{effect.accuracy_after:.3f}"
    assert acc.delta == f"{effect.accuracy_change:+.3f} ± {effect.accuracy_delta_std:.3f} over members"
    assert metric(at, "Errors fixed").value == f"{effect.errors_fixed} of {group.count}"
    assert metric(at, "New errors").value == str(effect.errors_new)
    assert metric(at, "Net benefit").value == f"{effect.net_benefit:+d}"
    table = at.dataframe[0].value
    top = table.head(10)
    assert list(top["train #"]) == list(expected.ranking.index[:10])
    np.testing.assert_allclose(top["improvement"], expected.ranking.delta_mean[:10], rtol=1e-6)
    np.testing.assert_allclose(top["± std"], expected.ranking.delta_std[:10], rtol=1e-6)
    np.testing.assert_allclose(top["p-value"], expected.ranking.p_value[:10], rtol=1e-6)
    assert set(table.loc[table["selected"], "train #"]) == set(expected.selected)
    assert "measured by retraining" in " ".join(c.value for c in at.caption).lower()

    # Changing the metric and the size re-ranks from memory: no model is retrained for the ranking.
    result = at.session_state["result"]
    at.selectbox(key="metric").set_value("loss").run()
    at.slider(key="size").set_value(3).run()
    assert not at.exception
    assert metric(at, "Selected training samples").value.endswith("of 3")
    assert at.session_state["result"].ranking.metric == "loss"
    assert at.session_state["result"] is not result


def test_candidate_groups_view_lists_the_engines_groups(engine):
    analysis, group, _ = engine
    expected = analysis.attribute(group, "relabel", "gt_prob", 10, 0.05, unit="group")
    records = expected.ranking.records()
    best = expected.ranking.best(0.05)
    assert best is not None and expected.effect is not None
    at = app()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert at.radio(key="unit").options == ["single samples", "candidate groups"]
    at.radio(key="unit").set_value("group").run()
    assert not at.exception and not errors(at)
    assert at.session_state["result"].unit == "group"
    assert any(s.value == "Candidate training groups" for s in at.subheader)
    assert metric(at, "Reliability of the ranking").value == f"{expected.reliability:.2f}"
    assert_warnings_above_numbers(at, expected.warnings)
    # One row per candidate group: kind, description, size, effect ± std, p-value, accuracy delta.
    table = at.dataframe[0].value
    assert list(table["group"]) == [r["group_id"] for r in records]
    assert list(table["kind"]) == [r["kind"] for r in records]
    assert set(table["kind"]) == {"neighbours", "cluster"}
    assert list(table["description"]) == [r["description"] for r in records]
    assert list(table["size"]) == [len(r["train_indices"]) for r in records]
    np.testing.assert_allclose(table["improvement"], [r["delta_mean"] for r in records], rtol=1e-6)
    np.testing.assert_allclose(table["± std"], [r["delta_std"] for r in records], rtol=1e-6)
    np.testing.assert_allclose(table["p-value"], [r["p_value"] for r in records], rtol=1e-6)
    np.testing.assert_allclose(table["accuracy Δ"], [r["accuracy_delta_mean"] for r in records], rtol=1e-6)
    assert list(table.loc[table["best"], "group"]) == [best.group_id]
    # The group effect is the best group's, with errors fixed / new / net benefit.
    effect = expected.effect
    assert metric(at, "Training samples in the group").value == str(len(best.train_indices))
    assert metric(at, "Improvement of true-class probability").value == f"{effect.improvement:+.4f}"
    assert metric(at, "Net benefit").value == f"{effect.net_benefit:+d}"
    # The best group's members are shown first; another group can be chosen.
    assert at.selectbox(key="shown_group").value == best.group_id
    members = at.dataframe[1].value
    assert list(members["train #"]) == list(best.train_indices)
    assert "row id" in members.columns and "age" in members.columns
    other = records[-1]
    at.selectbox(key="shown_group").set_value(other["group_id"]).run()
    assert list(at.dataframe[1].value["train #"]) == other["train_indices"]
    # The fix page is seeded with the best group.
    visit(at, FIX)
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(best.train_indices)


def test_fix_page_exports_the_attributed_samples(engine):
    _, _, expected = engine
    at = app()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(expected.selected)
    effect = expected.effect
    assert metric(at, "Test accuracy before").value == f"{effect.accuracy_before:.3f}"
    assert metric(at, "Test accuracy after").value == f"{effect.accuracy_after:.3f}"
    assert metric(at, "Improvement of true-class probability").delta == \
        f"± {effect.delta_std:.4f} std, p = {effect.p_value:.2g}"
    net = metric(at, "Net benefit")
    assert (net.value, net.delta) == (f"{effect.net_benefit:+d}", f"{effect.errors_fixed} fixed, {effect.errors_new} new")
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Corrected training set (CSV)", "Manifest (JSON)"]
    # Editing the selection retrains with just those samples, and nothing breaks.
    at.multiselect(key="fix_indices").set_value(list(expected.selected[:2])).run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 2


def test_one_member_is_refused_for_a_seeded_model():
    at = app()
    at.number_input(key="ensemble").set_value(1).run()
    assert not at.exception and not errors(at)
    assert any("One member: only for a deterministic model" in c.value for c in at.caption)
    visit(at, ERRORS)
    assert len(errors(at)) == 1 and "at least 2 members" in errors(at)[0], errors(at)
    assert not at.metric


# --- a deterministic model ---------------------------------------------------------------------


def test_deterministic_model_on_every_page(deterministic_engine):
    analysis, group, expected = deterministic_engine
    assert expected.deterministic and expected.reliability == 1.0
    at = app()
    at.selectbox(key="recipe").set_value("logistic-lbfgs").run()
    assert not at.exception and not errors(at)
    assert any("**logistic-lbfgs**" in m.value for m in at.markdown)

    visit(at, ERRORS)
    report = analysis.errors
    accuracy = metric(at, "Test accuracy")
    assert (accuracy.value, accuracy.delta) == (f"{report.accuracy:.3f}", "± 0.000 over members")
    assert "the baseline: **logistic-lbfgs**, a deterministic model" in at.caption[0].value
    assert at.session_state["group"] == (group.true, group.pred)

    at.session_state["unit"] = "group"  # candidate groups: 24 retrains instead of 800
    visit(at, ATTRIBUTION)
    assert "Deterministic model: effects are exact" in text(at)
    assert "deterministic: trained once per edit" in at.caption[0].value
    assert metric(at, "Reliability of the ranking").value == "1.00"
    assert_warnings_above_numbers(at, expected.warnings)
    assert expected.warnings[0].startswith("Deterministic model")
    effect = expected.effect
    assert effect is not None and np.isnan(effect.p_value)
    # No p-value numbers and no spread anywhere: a dash, "exact".
    assert metric(at, "p-value of the group effect").value == DASH
    change = metric(at, "Improvement of true-class probability")
    assert (change.value, change.delta) == (f"{effect.improvement:+.4f}", "exact")
    assert metric(at, "Global test accuracy").delta == tables.signed(effect.accuracy_change, 3)
    assert metric(at, "Net benefit").value == f"{effect.net_benefit:+d}"
    table = at.dataframe[0].value
    assert set(table["p-value"]) == {DASH} and "± std" not in table.columns
    records = expected.ranking.records()
    assert list(table["group"]) == [r["group_id"] for r in records]
    np.testing.assert_allclose(table["improvement"], [r["delta_mean"] for r in records], rtol=1e-6)

    visit(at, FIX)
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(expected.selected)
    assert metric(at, "Improvement of true-class probability").delta == "exact"
    assert any("Deterministic model: effects are exact" in c.value for c in at.caption)
    assert not any("p =" in (m.delta or "") for m in at.metric)


def test_deterministic_single_sample_ranking_has_no_p_values(small_deterministic_engine):
    _, group, expected = small_deterministic_engine
    ranking = expected.ranking
    at = upload_small_table(app(), "logistic-lbfgs", 1)  # one member is enough for a deterministic model
    visit(at, ERRORS)
    assert not errors(at)
    visit(at, ATTRIBUTION)
    assert at.session_state["result"].deterministic
    assert "Deterministic model: effects are exact" in text(at)
    assert metric(at, "Reliability of the ranking").value == "1.00"
    assert_warnings_above_numbers(at, expected.warnings)
    table = at.dataframe[0].value
    assert set(table["p-value"]) == {DASH}
    assert "± std" not in table.columns and "accuracy Δ std" not in table.columns
    assert list(table["train #"]) == list(ranking.index)
    np.testing.assert_allclose(table["improvement"], ranking.delta_mean, rtol=1e-6)
    # Selected without a p-value: the first ten improving samples.
    assert set(table.loc[table["selected"], "train #"]) == set(expected.selected)
    assert metric(at, "p-value of the group effect").value == DASH
    per_test = at.dataframe[-2].value
    assert "± change" not in per_test.columns and list(per_test["test #"]) == list(group.test_indices)


# --- a low reliability ---------------------------------------------------------------------------


def test_low_reliability_says_what_to_do(low_reliability_engine):
    _, _, expected = low_reliability_engine
    assert expected.reliability is not None and expected.reliability < 0.5
    at = upload_small_table(app(), "paper-sgd", 6)
    assert any("checkpoints of one run, 3 per run (the study's scheme)" in m.value for m in at.markdown)
    assert not any("are checkpoints of one run" in c.value for c in at.caption)  # 6 members: 2 runs
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert metric(at, "Reliability of the ranking").value == f"{expected.reliability:.2f}"
    page = text(at)
    assert "Reliability is **low**: single-sample effects are mostly training noise here" in page
    for advice in ("more members", "head mode", "a larger group", "rank candidate groups"):
        assert advice in page
    assert_warnings_above_numbers(at, expected.warnings)
    assert any(w.value.startswith(f"Low reliability ({expected.reliability:.2f})") for w in at.warning)
    # The button switches to the candidate-group view.
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["unit"] == "group" and at.session_state["result"].unit == "group"
    assert any(s.value == "Candidate training groups" for s in at.subheader)


# --- uploads ----------------------------------------------------------------------------------------


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
    assert metric(at, "Training rows").value == "560" and metric(at, "Test rows").value == "140"
    visit(at, ERRORS)
    assert metric(at, "Test accuracy").value


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

    from tda_core.recipes._preprocessing import tabular_preprocessor

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
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig

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
    assert metric(at, "Reliability of the ranking").value == f"{expected.reliability:.2f}"
    # The ranking table holds exactly the retrained samples, with the engine's retrained numbers.
    table = at.dataframe[0].value
    assert sorted(table["train #"]) == sorted(estimates.retrained)
    assert list(table["train #"]) == list(expected.ranking.index)
    np.testing.assert_allclose(table["improvement"], expected.ranking.delta_mean, rtol=1e-6)
    assert set(table.loc[table["selected"], "train #"]) == set(expected.selected)
    if expected.effect is not None:
        change = metric(at, "Improvement of true-class probability")
        assert change.value == f"{expected.effect.improvement:+.4f}"
    # The other samples are listed only as estimates, in their own expander.
    assert any(e.label.startswith("Estimates only, not retrained") for e in at.expander)
    rest = at.dataframe[1].value
    assert "estimated improvement" in rest.columns and "improvement" not in rest.columns
    assert list(rest["estimated improvement"]) == sorted(rest["estimated improvement"], reverse=True)  # best first
    assert len(rest) == analysis.data.n_train - len(estimates.retrained)
    assert not set(rest["train #"]) & set(estimates.retrained)


# --- image data (digits demo, head mode, few epochs) --------------------------------------

DIGITS = {"mode": "head", "epochs": 1, "ensemble": 2}


@pytest.fixture(scope="session")
def digits_engine():
    pytest.importorskip("torch")
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe

    data = load_demo("digits")
    analysis = Analysis(data, default_recipe(data, epochs=DIGITS["epochs"], mode=DIGITS["mode"]),
                        RunConfig(ensemble=DIGITS["ensemble"]))
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)


def gallery_captions(at: AppTest) -> list[str]:
    """The caption under each gallery image, in order (a gallery tile is an image, perhaps its Enlarge
    button, then its caption)."""
    out, waiting = [], False

    def walk(node) -> None:
        nonlocal waiting
        for key in sorted(getattr(node, "children", None) or {}):
            child = node.children[key]
            kind = getattr(child, "type", "")
            if kind == "image":
                waiting = True
            elif kind == "caption" and waiting:
                out.append(child.value)
                waiting = False
            walk(child)

    walk(at.main)
    return out


def digits_app() -> AppTest:
    at = app()
    at.selectbox(key="demo").set_value("digits").run()
    at.radio(key="net_mode").set_value(DIGITS["mode"]).run()
    at.number_input(key="epochs").set_value(DIGITS["epochs"]).run()
    at.number_input(key="ensemble").set_value(DIGITS["ensemble"]).run()
    assert not at.exception and not errors(at), errors(at)
    return at


@pytest.mark.slow
def test_image_demo_data_errors_and_attribution(digits_engine):
    analysis, group, expected = digits_engine
    data = analysis.data
    at = digits_app()
    # Data page: image metrics, the network controls, a capped preview gallery.
    assert metric(at, "Image shape").value == "×".join(map(str, data.X_train.shape[1:]))
    assert at.radio(key="net_mode").options == ["Full: retrain every layer",
                                                "Head only (fast): retrains only the last layer on frozen features"]
    # Each mode's cost: one model per training image and member for every action's ranking.
    models = f"about {data.n_train * DIGITS['ensemble']:,} models"
    assert any(c.value.startswith(f"Per action · **full**: {models}") and f"**head only**: {models}" in c.value
               for c in at.caption)
    members = at.radio(key="members")
    assert members.options == ["Independent seeds (default)", "Checkpoints of one run (the study's scheme)"]
    assert members.value == "seeds"
    assert any("head only" in m.value and "members: independent seeds" in m.value for m in at.markdown)
    # The preview shows a few images of every class, not just the first rows (all one class).
    assert len(at.image) == 20
    assert gallery_captions(at) == [data.classes[c] for c in range(10)] * 2

    # Errors page: the engine's accuracy; a gallery of the group's misclassified test images.
    visit(at, ERRORS)
    report = analysis.errors
    accuracy = metric(at, "Test accuracy")
    assert (accuracy.value, accuracy.delta) == (f"{report.accuracy:.3f}", f"± {report.accuracy_std:.3f} over members")
    assert at.session_state["group"] == (group.true, group.pred)
    pred = data.class_index(group.pred)
    expected_captions = [f"test #{t} · p({group.pred}) {report.proba_mean[t, pred]:.2f}" for t in group.test_indices][:32]
    # Above them, each error slice (clusters of the representation) shows its first test errors.
    slice_captions = [f"test #{t}" for s in analysis.slices for t in s.test_indices[:8]]
    assert analysis.slices and len(at.image) == len(slice_captions) + len(expected_captions)
    assert gallery_captions(at) == slice_captions + expected_captions

    # Attribution page: the engine's reliability and group effect; a gallery of the top-ranked training images.
    visit(at, ATTRIBUTION)
    assert_warnings_above_numbers(at, expected.warnings)
    reliability = metric(at, "Reliability of the ranking").value
    assert reliability == (DASH if expected.reliability is None else f"{expected.reliability:.2f}")
    ranking = expected.ranking
    if expected.effect is not None:
        effect = expected.effect
        assert metric(at, "Selected training samples").value == f"{len(expected.selected)} of 10"
        change = metric(at, "Improvement of true-class probability")
        assert change.value == f"{effect.improvement:+.4f}"
        acc = metric(at, "Global test accuracy")
        assert acc.delta == f"{tables.signed(effect.accuracy_change, 3)} ± {effect.accuracy_delta_std:.3f} over members"
    assert len(at.image) == 24 + 10  # the top of the ranking, then the 10 similar training samples
    captions = gallery_captions(at)
    for pos, caption in enumerate(captions[:24]):
        i = int(ranking.index[pos])
        star = "★ " if i in expected.selected else ""
        label, new = data.classes[data.y_train[i]], data.classes[analysis.baseline.relabel_targets[i]]
        assert caption == (f"{star}train #{i} · {label} → {new}  \nimprovement {ranking.improvement[pos]:+.2g} · "
                           f"p {ranking.p_value[pos]:.2g}")
    table = at.dataframe[0].value
    assert "file" in table.columns and list(table["train #"][:24]) == list(ranking.index[:24])
    from tda_core._similar import similar_samples

    similar = similar_samples(analysis, expected.group.test_indices, ranking=ranking)
    assert [int(c.split(" · ")[0].removeprefix("train #")) for c in captions[24:]] == list(similar.indices)

    # Candidate groups of images: the members of the best (or first) group as a gallery.
    at.radio(key="unit").set_value("group").run()
    assert not at.exception and not errors(at)
    groups = at.session_state["result"].ranking
    shown = next(g for g in groups.groups if g.group_id == at.selectbox(key="shown_group").value)
    assert list(at.dataframe[0].value["group"]) == [g.group_id for g in groups.groups]
    assert len(at.image) == len(shown.train_indices)
    assert gallery_captions(at)[0].startswith(f"train #{shown.train_indices[0]} · ")
    at.radio(key="unit").set_value("sample").run()

    # Fix page: the same group effect, and an export for image data too.
    if expected.effect is not None:
        visit(at, FIX)
        assert metric(at, "Test accuracy after").value == f"{expected.effect.accuracy_after:.3f}"


@pytest.mark.slow
def test_checkpoint_members_are_labelled_as_the_studys_scheme():
    pytest.importorskip("torch")
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    for key, value in {"demo": "digits", "net_mode": "head", "epochs": 1, "members": "checkpoints"}.items():
        at.session_state[key] = value
    at.run()  # AppTest keeps the sidebar of the first run only: the choices are made before it
    assert not at.exception and not errors(at), errors(at)
    assert at.radio(key="members").value == "checkpoints"
    assert any("checkpoints of one run, 3 per run (the study's scheme)" in m.value for m in at.markdown)
    assert "independent seeds" not in " ".join(m.value for m in at.markdown)
    assert any(c.value.startswith("All 3 members are checkpoints of one run") and "Use 6 or more members" in c.value
               for c in at.caption)
    assert "checkpoints of one run" in " ".join(m.value for m in at.sidebar.markdown)


@pytest.mark.slow
def test_image_size_and_device_reach_the_images_and_the_recipe():
    """Issue 14 on the data page: the image size resizes the demo (its shape says so) and the
    device choice reaches the network recipe; CUDA without a GPU is one message."""
    pytest.importorskip("torch")
    import torch

    at = digits_app()
    assert metric(at, "Image shape").value == "1×28×28"
    at.number_input(key="image_size").set_value(16).run()
    assert not at.exception and not errors(at), errors(at)
    assert metric(at, "Image shape").value == "1×16×16"
    assert at.query_params.get("image_size") in ("16", ["16"])
    at.selectbox(key="device").set_value("cpu").run()
    assert not at.exception and not errors(at), errors(at)
    if not torch.cuda.is_available():
        at.selectbox(key="device").set_value("cuda").run()
        visit(at, ERRORS)
        assert not at.exception
        assert len(errors(at)) == 1 and "torch sees no CUDA GPU" in errors(at)[0], errors(at)
