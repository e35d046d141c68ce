"""A choice on the attribution page stays put (issue 21, item 1), under Streamlit's AppTest.

A selectbox's value travels between the browser and the server as its label: the browser keeps
the label it was sent and sends it back on the next interaction with any widget. A label that
changed between runs (the action box's labels carried each ranking's cost, which becomes
"ready" once the ranking has run) then matches no option, and Streamlit falls back to the first
one: Upweight became Remove after a change of the metric. AppTest rebuilds the label from the
value, so it cannot send the stale label itself; it checks the condition instead: the labels of
every box on the page are the same in every run. The browser test
(test_browser.py::test_a_chosen_action_stays_after_a_metric_change) drives the round trip itself.
"""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, ERRORS, start, visit

BOXES = ("action", "metric")


def labels(at) -> dict[str, list[str]]:
    return {key: list(at.selectbox(key=key).options) for key in BOXES}


def test_the_action_box_labels_do_not_change_and_upweight_stays():
    at = start()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)  # the default remove is ranked
    seen = [labels(at)]
    at.selectbox(key="action").set_value("upweight").run()  # as a click: not through the URL
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["result"].ranking.action == "upweight"
    seen.append(labels(at))
    at.selectbox(key="metric").set_value("loss").run()
    assert not at.exception, [e.value for e in at.exception]
    seen.append(labels(at))
    for later in seen[1:]:
        assert later == seen[0], f"a box's labels changed between runs: {seen[0]} -> {later}"
    assert at.selectbox(key="action").value == "upweight" and at.selectbox(key="metric").value == "loss"
    assert at.session_state["result"].ranking.action == "upweight"
    assert at.query_params["action"] == "upweight" and at.query_params["metric"] == "loss"
    assert any(m.value.startswith("**Attribution** upweight · test loss") for m in at.sidebar.markdown)
    captions = " ".join(c.value for c in at.caption)
    assert "Ranking for this metric · " in captions and "upweight: ready" in captions, captions
