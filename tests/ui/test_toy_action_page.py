"""The dashboard offers a registered toy action with its own words (issue 20): its menu, caption
and ranking table build from ``ACTIONS`` and nothing else (see tests/test_toy_action.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, ERRORS, start, table_with, visit


def test_the_dashboard_menu_and_ranking_table_use_the_actions_words(halve):
    at = start({"action": "halve"})  # the URL takes the registered action as it takes the four
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    box = at.selectbox(key="action")
    assert box.value == "halve" and "Halve the weight" in box.options
    assert at.session_state["result"].ranking.action == "halve"
    assert any(c.value.startswith(halve.description) for c in at.caption)
    table = table_with(at, "edit")
    assert len(table) and all(text.endswith(", weight ×0.5") for text in table["edit"]), table["edit"].tolist()
