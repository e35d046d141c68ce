"""Compare → Fix → verify as one loop (issue 21, item 3), under Streamlit's AppTest: the setting
Compare names (or the row picked) opens Fix with exactly its action, size and samples, even where
the attribution page last ranked another action; the fix is then verified by retraining on the
corrected set. The browser test (test_round_two.py) picks a row by clicking it."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, COMPARE, ERRORS, FIX, metric, start, visit

from ui import state


def test_the_compared_setting_opens_in_fix_and_is_verified(credit_analysis):
    from tda_core._compare import compare

    group = credit_analysis.errors.groups[0]
    expected = compare(credit_analysis, group, "gt_prob", (1, 5, 10), 0.05)
    at = start()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)  # remove x 10 is ranked and selected: the seed Fix used to take
    assert at.session_state["result"].ranking.action == "remove"
    visit(at, COMPARE)
    # Relabel x 5: another action and size than the attribution page's.
    pick = next(s for s in expected.settings if (s.action, s.size) == ("relabel", 5))
    chosen = replace(at.session_state[state.ATTRIBUTION_STEP], compare_chosen=(pick.action, pick.size))
    at.session_state[state.ATTRIBUTION_STEP] = chosen  # what a click on its row sets (browser test)
    at.run()
    button = next(b for b in at.button if b.key == "open_fix")
    assert button.label == f"Next: fix with {pick.action} × {pick.size} ({len(pick.indices)} sample" \
        f"{'' if len(pick.indices) == 1 else 's'})"
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(t.value == "Fix" for t in at.title)
    assert at.session_state["action"] == pick.action and at.session_state["size"] == pick.size
    assert sorted(at.multiselect(key="fix_indices").value) == sorted(pick.indices)
    assert any(f"From Compare: **{pick.action} × {pick.size}**" in i.value for i in at.info)
    e = pick.effect
    assert metric(at, "Net benefit").value == f"{e.net_benefit:+d}"
    assert metric(at, "Test accuracy after").value == f"{e.accuracy_after:.3f}"
    # The chosen cell's count explained where another test sample entered it (issue 21, item 7).
    left, entered = e.cell_moves(credit_analysis.data.y_test, group.true_code, group.pred_code)
    notes = [c.value for c in at.caption if c.value.startswith(f"The chosen cell ({group.true} → {group.pred})")]
    assert len(notes) == (1 if entered else 0), notes
    if entered:
        assert f"{left} test sample" in notes[0] and f"{entered} other test sample" in notes[0]

    # Verify: a retraining on the corrected set, whose numbers agree with the compared group effect
    # (a relabel keeps every row in its place, so the corrected set trains exactly as the compared edit).
    verify = next(b for b in at.button if b.key.startswith("verify:"))
    verify.click()
    at.switch_page(FIX).run()  # AppTest reruns the page it was told, not the one st.switch_page went to
    assert not at.exception, [e.value for e in at.exception]
    before = metric(at, "Test accuracy before").value
    assert before == f"{credit_analysis.errors.accuracy:.3f}"
    fixed = metric(at, "Chosen errors fixed")
    assert fixed.value.endswith(f"of {group.count}")
    assert fixed.value == f"{e.errors_fixed} of {group.count}"
    assert metric(at, "Test accuracy after the fix").value == f"{e.accuracy_after:.3f}"
