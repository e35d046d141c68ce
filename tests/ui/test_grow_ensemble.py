"""The attribution page's "until the ranking holds" (issue 22, item 2): a click grows the ensemble
seed by seed, draws the reliability after each step, and makes the grown ensemble the run's; the
numbers are the engine's own growth, and the grown ranking is read from the cache."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, DASHBOARD, ERRORS, TIMEOUT, visit
from streamlit.testing.v1 import AppTest

from ui import growing, state

GROW = "Grow the ensemble until the ranking holds"


def digits_head(at: AppTest) -> AppTest:
    at.selectbox(key="demo").set_value("digits").run()
    at.radio(key="net_mode").set_value("head").run()
    at.number_input(key="epochs").set_value(1).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


@pytest.mark.slow
def test_a_click_grows_the_ensemble_until_its_ranking_holds():
    pytest.importorskip("torch")
    from tda_core import RunConfig, default_recipe, grow_ensemble, load_demo

    at = digits_head(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run())
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    first = at.session_state[state.RESULT]
    assert first.reliability_interval[0] < growing.TARGET  # 3 members do not hold yet: the page offers more
    assert any(f"between {first.reliability_interval[0]:.2f} and {first.reliability_interval[1]:.2f}" in m.value
               for m in at.markdown)
    [button] = [b for b in at.button if b.label == GROW]
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    grown = at.session_state[state.NOTES].grown
    assert isinstance(grown, growing.Grown) and grown.stopped == "target"
    members = [m for m, *_ in grown.steps]
    assert members == list(range(3, grown.members + 1)) and grown.members > 3
    assert at.session_state[state.DATA_STEP].ensemble == grown.members  # the run's ensemble now
    # The engine's own growth from the same settings: the same steps, every model from the cache.
    data = load_demo("digits")
    expected = grow_ensemble(data, default_recipe(data, epochs=1, mode="head"), RunConfig(ensemble=3), first.group,
                             "remove", "gt_prob", size=10, target=growing.TARGET, max_ensemble=growing.MAX_ENSEMBLE)
    assert expected.retrains == 0
    assert [(s.members, s.reliability.value, s.reliability.interval[0]) for s in expected.steps] == \
        [(m, r, low) for m, r, low, _ in grown.steps]
    assert expected.steps[-1].reliability.interval[0] >= growing.TARGET
    # The page now ranks with the grown ensemble, the same group: its reliability is the last step's.
    result = at.session_state[state.RESULT]
    assert result.group.test_indices == first.group.test_indices
    assert result.reliability == pytest.approx(expected.steps[-1].reliability.value, abs=1e-12)
    assert not [b for b in at.button if b.label == GROW]  # it holds: nothing more to offer
    assert any(m.value.startswith(f"Grown to **{grown.members} members**") for m in at.success)
    # The chart: the reliability and its interval after each step, and the target as a rule.
    spec = growing.reliability_chart(list(grown.steps)).to_dict()
    layers = {layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]: layer for layer in spec["layer"]}
    assert set(layers) == {"rule", "line"} and len(spec["layer"]) == 3
    drawn = [r for d in spec["datasets"].values() for r in d]
    assert [r["members"] for r in drawn if "members" in r] == members
    assert [r["target"] for r in drawn if "target" in r] == [growing.TARGET]


def test_stopped_at_the_budget_it_says_what_holds_better():
    """The summary of a growth that stopped at 10 members (digits in full mode, single samples, as
    the engine reports it): the warning, the reliability by members, and each alternative with the
    reliability measured on the same seeds."""

    def page():
        from tda_core import ErrorGroup
        from ui import growing

        steps = tuple((m, 0.05 * (m - 2), -0.3 + 0.05 * m, 0.2 + 0.05 * m) for m in range(3, 11))
        growing.show(growing.Grown(
            "data|recipe", 10, ErrorGroup("5", "3", 5, 3, (1, 2, 3)), (1, 2, 3), steps, "budget",
            "the most members (10) before the target 0.8", (("groups", 0.61), ("head", None)), 10))

    at = AppTest.from_function(page, default_timeout=TIMEOUT).run()
    assert not at.exception
    [warning] = at.warning
    assert warning.value == ("Grown to **10 members** and stopped at the budget: the most members (10) before "
                             "the target 0.8 (reliability by members 3: 0.05, 4: 0.10, 5: 0.15, 6: 0.20, 7: 0.25, 8: 0.30, "
                             "9: 0.35, 10: 0.40). Ranked for the 3 test samples the growth started from.")
    assert [m.value for m in at.markdown] == [
        "- Instead: rank candidate groups of 10 samples instead of single samples (Rank, above) (reliability 0.61 on the same seeds)",
        "- Instead: retrain only the last layer on frozen features (head only, on the data page)",
    ]
