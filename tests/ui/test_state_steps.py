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
    return string_constants(ast.parse((ROOT / "ui" / "state.py").read_text()))


#: Names the dashboard's state had before the dataclasses: a field read or set by one of them is gone.
OLD_NAMES = {"get", "put", "FIELDS", "MIRRORS", "READ_BY_NAME", "DEFAULTS", "UPLOAD", "POOL_UPLOAD", "TEST_UPLOAD",
             "MODEL_UPLOAD", "TESTS", "FIX_SEEDED_FROM", "FIX_ORIGIN", "URL_READ", "URL_UPLOAD", "URL_MODEL", "URL_POOL",
             "STOPPED", "CONFIRMED"}


#: The other keys a walk through the pages leaves (a ``verify:<setting>`` button counts once): toggles
#: of a view (the raw change, the feature attributions), the buttons of a view, and what a view
#: keeps of its own work (the last progress report, the verifications run and asked for).
OTHER_KEYS = ["last_progress", "raw_change", "show_features", "triage_report", "verifications", "verify", "verify_asked"]


def client_modules() -> list[Path]:
    return sorted([*(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "dashboard.py"])


def session_key(node: ast.AST, names: dict[str, str]) -> object:
    """The key of ``st.session_state[KEY]``, ``.get(KEY)``, ``.setdefault(KEY)``, ``.pop(KEY)`` or
    ``KEY in st.session_state``, where KEY is a string or a module constant of ``names``; else None."""
    def is_session(value: ast.AST) -> bool:
        return ast.unparse(value).endswith("session_state")

    def value(key: ast.AST) -> object:
        if isinstance(key, ast.Constant):
            return key.value
        return names.get(key.id) if isinstance(key, ast.Name) else None

    if isinstance(node, ast.Subscript) and is_session(node.value):
        return value(node.slice)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_session(node.func.value) \
            and node.func.attr in ("get", "setdefault", "pop") and node.args:
        return value(node.args[0])
    if isinstance(node, ast.Compare) and any(is_session(c) for c in node.comparators):
        return value(node.left)
    return None


def string_constants(tree: ast.Module) -> dict[str, str]:
    """The module-level string constants of ``tree``, by name (``A, B = "a", "b"`` too)."""
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
    assert len(constants) == 41  # 8 session keys and 33 widget keys: no other name of a field
    session = [v for v in constants.values() if v in state.SESSION_KEYS]
    widgets = [v for v in constants.values() if v in state.WIDGETS]
    assert (len(session), len(widgets)) == (8, 33)
    # Every widget key mirrors a field of exactly one step's dataclass, and no two the same field.
    for key, (step, name) in state.WIDGETS.items():
        assert name in {f.name for f in fields(state.STEPS[step])}, key
    assert len(set(state.WIDGETS.values())) == len(state.WIDGETS)
    assert not OLD_NAMES & set(vars(state)), OLD_NAMES & set(vars(state))


def test_no_module_reads_or_sets_a_field_by_an_old_name():
    """ui/, pages/ and the router read a step through its reader (state.data(), state.errors(), ...)
    and change it with state.update; no other session key of theirs holds a step's field."""
    step_fields = {f.name for step in state.STEPS.values() for f in fields(step)} - {name for _, name in state.WIDGETS.values()}
    found = []
    for path in client_modules():
        tree = ast.parse(path.read_text())
        names = string_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "state" \
                    and node.attr in OLD_NAMES:
                found.append(f"{path.name}:{node.lineno} state.{node.attr}")
            key = session_key(node, names)
            if key in step_fields:  # st.session_state["upload"], st.session_state.get("tests"): a field outside its step
                found.append(f"{path.name}:{node.lineno} session key {key!r}")
    assert not found, found
    assert sum(path.read_text().count("state.update(") for path in client_modules()) >= 20


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
    assert fix.mode == "action" and at.session_state["fix_mode"] == "action"  # the radio's key mirrors FixList.mode
    widget_fields = {name for _, name in state.WIDGETS.values()}
    for step in state.STEPS.values():  # no widget binds them: they live in their step only
        for name in {f.name for f in fields(step)} - widget_fields:
            assert name not in at.session_state, name
    assert "fix_seeded_from" not in at.session_state and "compare_chosen" not in at.session_state
    assert "fix_indices" in at.session_state  # the multiselect's key, mirroring FixList.indices
    # The session's keys: the 8 of the steps and results, the 33 widgets' and those of widgets drawn
    # without a step field (uploaders, tables, buttons) or caches of a view; none holds a choice of a step.
    keys = set(at.session_state._state.filtered_state)  # the keyed ones, as st.session_state lists them
    assert set(state.SESSION_KEYS) <= keys and set(state.WIDGETS) <= keys
    others = sorted({k.split(":")[0] for k in keys - set(state.SESSION_KEYS) - set(state.WIDGETS)})
    assert others == OTHER_KEYS, " ".join(others)


def test_the_attribution_page_has_no_branch_on_candidate_groups():
    source = (ROOT / "pages" / "3_attribution.py").read_text()
    assert "by_group" not in source
    assert 'unit == "group"' not in source and "GroupRanking" not in source
    assert source.count("views.view_for(") == 1
