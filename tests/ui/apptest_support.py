"""Driving the dashboard under Streamlit's AppTest: shared by the page tests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")
ERRORS, ATTRIBUTION, FIX, COMPARE = "pages/2_errors.py", "pages/3_attribution.py", "pages/4_fix.py", "pages/5_compare.py"
TIMEOUT = 180


def start(params: dict[str, str] | None = None, **session) -> AppTest:
    """The dashboard's first run, with URL ``params`` and session state ``session`` set before it."""
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    if params:
        at.query_params.update(params)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def visit(at: AppTest, page: str) -> AppTest:
    """Switch to ``page``; it must draw without an exception or an error message."""
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metric(at: AppTest, label: str):
    found = [m for m in at.metric if m.label.startswith(label)]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


def table_with(at: AppTest, column: str, index: int = 0):
    """The ``index``-th table of the page that has ``column`` (the grid's own columns)."""
    tables = [d.value for d in at.dataframe if column in list(getattr(d.value, "columns", []))]
    assert len(tables) > index, [list(getattr(d.value, "columns", [])) for d in at.dataframe]
    return tables[index]
