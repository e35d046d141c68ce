"""A ranking that would take hours asks first (issue 19, "a pool that would run for hours asks first
(dashboard)"): add from a pool of 34,000 samples on the credit demo is 102,000 models or more, beyond
what one machine ranks exactly. The attribution page shows the estimate (models, memory, time) and
candidate mode's cost, trains nothing, and ranks in candidate mode after one click, keeping the
error group. A ranking that is long at the rate measured in this session starts only on its click.

Everything is driven by clicks on the pages (uploads, choices, buttons); the engine's ranking calls
are recorded to show that nothing was trained before the click."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, DASHBOARD, ERRORS, TIMEOUT, table_with, visit
from streamlit.testing.v1 import AppTest

POOL_ROWS = 34_000  # x 3 members: more than tda_core.limits.MAX_EXACT_MODELS


@pytest.fixture
def ranked(monkeypatch):
    """The actions whose exact single-sample ranking the engine trained (not read from memory), in order."""
    from tda_core._analysis import Analysis

    calls: list[str] = []
    original = Analysis.counterfactuals

    def record(self, action, group=None, progress=None):
        name = getattr(action, "name", str(action))
        if not self.has_ranking(name, group):  # not in memory: this call trains
            calls.append(name)
        return original(self, action, group, progress)

    monkeypatch.setattr(Analysis, "counterfactuals", record)
    return calls


def large_pool(credit) -> bytes:
    """34,000 pool rows drawn from the demo's own pool (with replacement), with their labels."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, credit.n_pool, size=POOL_ROWS)
    frame = credit.X_pool.iloc[rows].assign(credit_risk=[credit.classes[c] for c in credit.y_pool[rows]])
    return frame.to_csv(index=False).encode()


def test_add_from_a_large_pool_asks_first_and_switches_to_candidate_mode(credit, ranked):
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run()
    at.file_uploader(key="pool_file_0").set_value(("big-pool.csv", large_pool(credit), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)  # the default action (remove) ranks the 700 training samples
    group = at.session_state["group"]
    assert ranked == ["remove"]

    at.selectbox(key="action").set_value("add").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    warnings = [w.value for w in at.warning if "would take hours" in w.value]
    assert len(warnings) == 1, [w.value for w in at.warning]
    assert "more than the 100,000 one machine ranks exactly" in warnings[0] and "Nothing has been trained" in warnings[0]
    text = " ".join(m.value for m in at.markdown)
    assert f"**Exact ranking**: {3 * POOL_ROWS:,} models ({POOL_ROWS:,} pool samples x 3 members)" in text  # as the CLI says
    assert f"would take hours: {3 * POOL_ROWS:,} models" in warnings[0]
    assert re.search(r"about [\d.]+ [KMG]iB of memory at its peak, about [\d.]+ (s|min|h) at the rate measured in this session", text), text
    assert f"**Candidate mode** (top 100): every one of the {POOL_ROWS:,} pool samples is estimated" in text
    assert "about 375 models" in text  # (100 + a check sample of 25) x 3 runs
    labels = [b.label for b in at.button]
    assert not [b for b in labels if b.startswith("Start · ")]  # one machine does not run it exactly
    assert "Switch to candidate mode · top 100" in labels
    assert ranked == ["remove"]  # nothing of add was trained
    assert at.session_state["result"].ranking.action == "remove"
    assert not [m for m in at.metric if m.label.startswith("Selected pool samples")]

    at.button[labels.index("Switch to candidate mode · top 100")].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["use_candidates"] is True and at.session_state["group"] == group  # the group is kept
    result = at.session_state["result"]
    assert result.ranking.action == "add" and result.ranking.estimates is not None
    assert len(result.ranking.estimates.index) == POOL_ROWS and len(result.ranking.index) == 125
    assert ranked == ["remove"]  # candidate mode: no exact ranking of the pool
    banner = [i.value for i in at.info if "Candidate mode" in i.value]
    assert banner and f"estimates for all {POOL_ROWS:,} samples" in banner[0]
    # The samples only estimated are pool samples, listed by pool # with their own ids and labels.
    rest = table_with(at, "estimated improvement")
    assert "pool #" in rest.columns and "train #" not in rest.columns
    data = result.ranking.estimates
    assert not set(rest["pool #"]) & set(data.retrained) and int(rest["pool #"].max()) >= credit.n_train


def test_a_ranking_long_at_the_measured_rate_offers_candidate_mode_and_starts_on_its_click(credit, ranked):
    """At 10 models a second (as if measured in this session) the ranking of the 700 training
    samples (remove, the default) is about 4 minutes: its estimate and candidate mode's are shown, nothing trains, and a
    click on Start ranks it."""
    from tda_core.recipes import default_recipe
    from ui import loaders

    loaders.analysis_for.clear()  # AppTests share the process's cached analyses: one with this ranking in memory asks nothing
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.session_state["rates"] = {f"{credit.fingerprint}|{default_recipe(credit).fingerprint()}": 10.0}
    at.run()
    visit(at, ERRORS)
    at.switch_page(ATTRIBUTION).run()
    assert not at.exception and not at.error
    assert ranked == []
    expected = "about 2,100 models, about 4 min"
    assert any(expected in i.value and "at the rate measured in this session" in i.value for i in at.info)
    text = " ".join(m.value for m in at.markdown)
    assert "**Exact ranking**: 2,100 models (700 training samples x 3 members)" in text and "about 4 min at the rate measured" in text
    assert "**Candidate mode** (top 100)" in text and "about 375 models, about 40 s" in text
    labels = [b.label for b in at.button]
    assert f"Start · {expected}" in labels and "Switch to candidate mode · top 100" in labels
    assert not at.metric  # nothing was trained or shown

    at.button[labels.index(f"Start · {expected}")].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert ranked == ["remove"]
    assert at.session_state["result"].ranking.action == "remove" and at.session_state["use_candidates"] is False


@pytest.mark.slow
def test_a_full_network_ranking_asks_first_and_the_modes_cost_differently(ranked, monkeypatch):
    """Digits in full mode (issues 21 and 22): the data page quotes other costs for Full and Head
    (a whole network per model against a last layer per model). Before the first ranking, the
    attribution page times the ranking's own first unit (30 stacked networks, cached), since the
    baseline's networks, trained one at a time, overstate a ranking several times over; it asks
    with that estimate where it is long (here every run asks: the limit is lowered to 1 s).
    Nothing else of the ranking trains before the click."""
    pytest.importorskip("torch")
    import ui.cost
    from tda_core._analysis import Analysis

    monkeypatch.setattr(ui.cost, "LONG_RUN", 1.0)
    paces: list = []
    original = Analysis.ranking_pace

    def record(self, action, group=None, progress=None):
        paces.append(original(self, action, group, progress))
        return paces[-1]

    monkeypatch.setattr(Analysis, "ranking_pace", record)
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run()
    at.selectbox(key="demo").set_value("digits").run()
    at.radio(key="net_mode").set_value("full").run()
    at.number_input(key="epochs").set_value(10).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    per_mode = next(c.value for c in at.caption if c.value.startswith("Per action · "))
    full, head = per_mode.removeprefix("Per action · ").split(" · ", 1)
    assert full.startswith("**full**: about 900 models, each a whole network trained from scratch"), per_mode
    assert head.startswith("**head only**: about 900 models, each only a last layer fitted on frozen features"), per_mode
    visit(at, ERRORS)  # trains (or reads) the baseline networks
    at.switch_page(ATTRIBUTION).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert ranked == []  # the ranking itself did not run
    starts = [b.label for b in at.button if b.label.startswith("Start · about 900 models")]
    assert len(starts) == 1, [b.label for b in at.button]
    asked = " ".join(i.value for i in at.info)
    if paces:  # the baseline trained here: the first unit's pace gives the time
        (pace,) = paces
        assert pace is not None and pace.unit_models == 30 and pace.workers >= 1
        assert re.search(r"Start · about 900 models, about \d+ (s|min)", starts[0]), starts[0]
        assert "at the pace of the ranking's first 30 networks, measured now" in asked, asked
    else:  # the baseline came from the cache: no pace to start from
        assert "each a whole network trained from scratch (time not measured yet)" in starts[0]
    assert not [m for m in at.metric if m.label.startswith("Selected training samples")]
