"""Add from a pool in the dashboard, under Streamlit's AppTest, against the engine's own numbers on
the credit demo (700 train / 100 pool / 200 test): add is offered only with a pool, its ranking is
the engine's (pool indices and effects), the headline's counts are the group effect's, an uploaded
pool replaces the demo's own, a bad pool is one message, and the fix page appends the added rows.

tests/conftest.py gives the session an empty engine cache (TDA_CACHE_DIR), shared by the engine
fixtures here and the pages.
"""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, DASHBOARD, ERRORS, FIX, TIMEOUT, metric, start, table_with, visit
from streamlit.testing.v1 import AppTest

from tda_core._actions import POOL
from ui import state

POOL_ROWS = 30  # rows of the uploaded pool that replaces the demo's 100


# --- the engine's own answers ---------------------------------------------------------------


def engine_add(data):
    """The engine's add attribution for the page's default choices (first error group, true-class
    probability, size 10, alpha 0.05, the default recipe and run)."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.recipes import default_recipe

    analysis = Analysis(data, default_recipe(data), RunConfig())
    group = analysis.errors.groups[0]
    return analysis, group, analysis.attribute(group, "add", "gt_prob", 10, 0.05)


@pytest.fixture(scope="module")
def credit_add(credit):
    return engine_add(credit)


def pool_table(credit, rows: int = POOL_ROWS, drop: str | None = None) -> bytes:
    """A pool CSV made of the demo's own pool rows: the training columns and the target."""
    frame = credit.X_pool.head(rows).assign(credit_risk=[credit.classes[c] for c in credit.y_pool[:rows]])
    return (frame.drop(columns=drop) if drop else frame).to_csv(index=False).encode()


# --- driving the app ---------------------------------------------------------------------------


def upload_pool(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="pool_file_0").set_value((name, data, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_add_ranks_the_demos_pool_as_the_engine_does(credit_add):
    from tda_core._similar import similar_samples

    analysis, group, expected = credit_add
    effect = expected.effect
    assert expected.ranking.subject is POOL and len(expected.ranking.index) == 100
    assert effect is not None and len(expected.selected) == 10

    at = start()
    assert "The demo's own pool is used: 100 samples. Upload a pool to replace it." in [c.value for c in at.caption]
    assert metric(at, "Pool rows").value == "100"
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert at.selectbox(key="action").options[-1].startswith("Add from the pool")
    at.selectbox(key="action").set_value("add").run()
    assert not at.exception and not at.error
    assert at.radio(key="unit").disabled  # candidate groups are of training samples
    assert any(c.value.startswith("Add from the pool: each pool sample") for c in at.caption)

    # The ranking: every pool sample, in the engine's order, with its measured effect.
    table = table_with(at, "rank")
    assert list(table["pool #"]) == [int(j) for j in expected.ranking.index]
    np.testing.assert_allclose(table["improvement"], expected.ranking.improvement, rtol=1e-9)
    np.testing.assert_allclose(table["± std"], expected.ranking.delta_std, rtol=1e-9)
    np.testing.assert_allclose(table["p-value"], expected.ranking.p_value, rtol=1e-9)
    np.testing.assert_allclose(table["accuracy Δ"], expected.ranking.accuracy_delta_mean, rtol=1e-9, atol=1e-15)
    data = analysis.data
    assert list(table["pool id"]) == [str(data.pool_id(int(j))) for j in expected.ranking.index]
    assert list(table["label"]) == [data.classes[data.y_pool[j]] for j in expected.ranking.index]
    assert set(table.loc[table["selected"], "pool #"]) == set(expected.selected)

    # The headline and the group effect: the engine's counts.
    headline = (f"#### Adding these {len(expected.selected)} pool samples fixes {effect.errors_fixed} of the chosen "
                f"errors (and creates {effect.errors_new} new error{'' if effect.errors_new == 1 else 's'} elsewhere)")
    assert headline in [m.value for m in at.markdown]
    assert metric(at, "Selected pool samples").value == f"{len(expected.selected)} of 10"
    assert metric(at, "Errors fixed").value == f"{effect.errors_fixed} of {group.count}"
    assert metric(at, "New errors").value == str(effect.errors_new)
    assert metric(at, "Net benefit").value == f"{effect.net_benefit:+d}"
    assert metric(at, "Improvement of true-class probability").value == f"{effect.improvement:+.4f}"
    added = table_with(at, "pool id")  # the samples to add come first
    assert list(added["pool #"]) == list(expected.selected)
    assert [w.value for w in at.warning] == list(expected.warnings)

    # Similar samples beside the add ranking are the nearest pool samples.
    assert "Similar pool samples" in [s.value for s in at.subheader]
    similar = similar_samples(analysis, group.test_indices, ranking=expected.ranking, among="pool")
    shown = table_with(at, "distance")
    assert list(shown["pool #"]) == list(similar.indices)
    np.testing.assert_allclose(shown["distance"], similar.distance, rtol=1e-9)


def test_add_is_not_offered_without_a_pool(credit):
    """An uploaded table without a pool: the actions are the three on training samples."""
    frame = credit.X_train.assign(credit_risk=[credit.classes[c] for c in credit.y_train])
    at = start(action="add")
    at.radio(key="source").set_value("table").run()
    at.file_uploader(key="table_file").set_value(("mine.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    at.selectbox(key="target").set_value("credit_risk").run()
    assert not at.exception and not at.error
    assert "No pool: the add action is not offered." in " ".join(c.value for c in at.caption)
    assert not any(m.label.startswith("Pool rows") for m in at.metric)
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert [o.split(" · ")[0] for o in at.selectbox(key="action").options] == \
        ["Remove", "Relabel to the next most likely class", "Upweight ×10"]
    assert at.session_state["action"] == "remove"  # the link's add does not apply here
    assert any("Add from a pool is offered once the data have a pool" in c.value for c in at.caption)


def test_an_uploaded_pool_replaces_the_demos_pool(credit):
    from tda_core.data import attach_pool

    raw = pool_table(credit)
    analysis, _, expected = engine_add(attach_pool(credit, raw, name="mine.csv"))
    at = start()
    upload_pool(at, "mine.csv", raw)
    assert not at.error
    assert metric(at, "Pool rows").value == str(POOL_ROWS)
    assert f"Using the pool **mine.csv**: {POOL_ROWS} samples, in place of the demo's own pool (100)." in \
        [c.value for c in at.caption]
    chosen = at.session_state[state.DATA_STEP]
    assert chosen.upload is None and chosen.pool_upload.name == "mine.csv"
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    at.selectbox(key="action").set_value("add").run()
    assert not at.exception and not at.error
    table = table_with(at, "rank")
    assert len(table) == POOL_ROWS
    assert list(table["pool #"]) == [int(j) for j in expected.ranking.index]
    np.testing.assert_allclose(table["improvement"], expected.ranking.improvement, rtol=1e-9)
    assert list(table["pool id"]) == [str(analysis.data.pool_id(int(j))) for j in expected.ranking.index]
    # The link names the pool, which a reload asks for again.
    assert at.query_params["pool_file"] == ["mine.csv"] or at.query_params["pool_file"] == "mine.csv"


def test_a_link_with_a_pool_asks_for_it_again():
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.query_params["pool_file"] = "mine.csv"
    at.run()
    assert not at.exception and not at.error
    assert any("This link was made with an uploaded pool, **mine.csv**" in i.value and "the demo's own pool (100 samples) is used"
               in i.value for i in at.info)
    assert metric(at, "Pool rows").value == "100"


@pytest.mark.parametrize("name, raw, phrase", [
    ("pool.csv", None, "age"),  # a training column missing: named
    ("pool.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "pool.csv"),  # not a table at all
])
def test_a_bad_pool_is_one_message_and_the_page_keeps_working(credit, name, raw, phrase):
    at = start()
    upload_pool(at, name, raw if raw is not None else pool_table(credit, drop="age"))
    assert len(at.error) == 1, [e.value for e in at.error]
    message = at.error[0].value
    assert phrase in message and "\n" not in message and "Traceback" not in message and "Error:" not in message
    assert "This pool is not used: the demo's own pool (100 samples) is used instead." in [c.value for c in at.caption]
    assert metric(at, "Training rows").value == "700" and metric(at, "Pool rows").value == "100"
    # The rest of the workflow runs on the demo's own pool.
    at.switch_page(ERRORS).run()
    assert not at.exception and not at.error
    # Removing the upload goes back to the demo's own pool, without the message.
    at.switch_page("pages/1_data_and_model.py").run()
    at.button[[b.label for b in at.button].index("Remove the uploaded pool")].click().run()
    assert not at.error and at.session_state[state.DATA_STEP].pool_upload is None


def test_candidate_mode_estimates_the_pool_and_retrains_the_best(credit):
    """Candidate mode serves add too: every pool sample estimated, the top 20 and a check sample
    retrained; the page's ranking is the engine's."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.recipes import default_recipe

    at = start(action="add", use_candidates=True, candidates=20)
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    shown = at.session_state["result"]
    engine = Analysis(credit, default_recipe(credit), RunConfig(candidates=20))
    expected = engine.attribute(engine.group(shown.group.true, shown.group.pred), "add", shown.ranking.metric, shown.size)
    assert shown.ranking.action == "add" and shown.ranking.estimates is not None
    np.testing.assert_array_equal(shown.ranking.index, expected.ranking.index)
    assert len(shown.ranking.index) == 30 and shown.selected == expected.selected
    assert shown.ranking.estimates.spearman == pytest.approx(expected.ranking.estimates.spearman)


def test_the_fix_page_appends_the_added_pool_rows(credit_add, downloads):
    analysis, _, expected = credit_add
    data, n = analysis.data, len(expected.selected)
    at = start(action="add")
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    visit(at, FIX)
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(expected.selected)
    effect = expected.effect
    net = metric(at, "Net benefit")
    assert (net.value, net.delta) == (f"{effect.net_benefit:+d}", f"{effect.errors_fixed} fixed, {effect.errors_new} new")
    assert f"{data.n_train:,} training rows before, {data.n_train + n:,} after." in " ".join(c.value for c in at.caption)
    added = table_with(at, "row_id")
    assert list(added["row_id"]) == [f"pool:{data.pool_id(j)}" for j in sorted(expected.selected)]

    # The download: the training rows, then the added pool rows; the manifest says they were added.
    exported = pd.read_csv(BytesIO(downloads["credit-fixed.csv"]))
    assert len(exported) == data.n_train + n
    assert list(exported["row_id"].tail(n)) == [f"pool:{data.pool_id(j)}" for j in sorted(expected.selected)]
    manifest = json.loads(downloads["credit-manifest.json"])
    assert manifest["action"] == "add" and manifest["n_train_after"] == data.n_train + n
    assert [c["pool_index"] for c in manifest["changes"]] == sorted(expected.selected)
    assert all(c["added"] for c in manifest["changes"])
    assert sorted(s["pool_index"] for s in manifest["why"]["samples"]) == sorted(expected.selected)

    # Replaying the manifest writes the same training set, byte for byte.
    at.radio(key="fix_mode").set_value("manifest").run()
    at.file_uploader(key="manifest_file").set_value(("credit-manifest.json", downloads["credit-manifest.json"],
                                                     "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert downloads["credit-replayed.csv"] == downloads["credit-fixed.csv"]
