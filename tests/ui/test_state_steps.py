"""The pages' state is one dataclass per workflow step, each under one session key (issue 20):
widgets keep their own keys, which mirror one field of their step, and nothing else of the steps
is a loose key of the session."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, ERRORS, FIX, start, visit

from ui import state

ROOT = Path(__file__).resolve().parents[2]


def module_constants() -> dict[str, str]:
    """The string constants ui/state.py defines at module level, by name."""
    tree = ast.parse((ROOT / "ui" / "state.py").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for target, value in zip(targets, values):
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[target.id] = value.value
    return found


def test_a_few_session_keys_hold_the_steps():
    assert state.SESSION_KEYS == ("data_choice", "error_choice", "attribution_choice", "fix_list", "session_notes",
                                  "result", "rates", "analysis_id")
    assert len(state.STEPS) == 5
    constants = module_constants()
    assert len(constants) == 53  # 8 session keys, 32 widget keys and 13 names of the other fields
    session = [v for v in constants.values() if v in state.SESSION_KEYS]
    widgets = [v for v in constants.values() if v in state.WIDGETS]
    names = [v for v in constants.values() if v in state.FIELDS and v not in state.WIDGETS]
    assert (len(session), len(widgets), len(names)) == (8, 32, 13)
    assert len(session) <= 8
    # Every name is a field of exactly one step's dataclass.
    for key, (step, name) in state.FIELDS.items():
        assert name in {f.name for f in fields(state.STEPS[step])}, key


def test_a_widget_and_its_step_agree_and_other_fields_are_no_session_keys(credit_analysis):
    group = credit_analysis.errors.find("bad", "good")
    at = start({"true": "bad", "pred": "good", "action": "upweight", "metric": "loss", "size": "4"})
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    choice = at.session_state["attribution_choice"]
    assert (choice.action, choice.metric, choice.size, choice.unit) == ("upweight", "loss", 4, "sample")
    assert at.session_state["error_choice"].group == ("bad", "good")
    assert at.session_state["error_choice"].tests == ()
    # A change made in a widget reaches its step on the next run.
    at.selectbox(key="metric").set_value("gt_prob").run()
    assert at.session_state["attribution_choice"].metric == "gt_prob"
    assert at.session_state["attribution_choice"].action == "upweight"  # the action stays
    expected = credit_analysis.attribute(group, "upweight", "gt_prob", 4, 0.05)
    assert at.session_state["result"].selected == expected.selected
    visit(at, FIX)
    fix = at.session_state["fix_list"]
    assert fix.indices == list(expected.selected) and fix.seeded_from == ("upweight", expected.selected)
    for key in set(state.FIELDS) - set(state.MIRRORS):  # no widget binds them: they live in their step only
        assert key not in at.session_state, key
    assert "kept_group" not in at.session_state and "fix_seeded_from" not in at.session_state
    assert "fix_indices" in at.session_state  # the multiselect's key, mirroring FixList.indices


def test_the_attribution_page_has_no_branch_on_candidate_groups():
    source = (ROOT / "pages" / "3_attribution.py").read_text()
    assert "by_group" not in source
    assert 'unit == "group"' not in source and "GroupRanking" not in source
    assert source.count("views.view_for(") == 1
