"""One overall progress for a block of several engine requests (issue 21, item 6): Compare's bar
went 2/3 → 1/3 → 3/3 → 400/600 → 1/3 because each request counts from 0. The callback adds the
requests up, so the count and the bar only move forward, and end at the block's total."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from tda_core._engine import Progress
from ui.progress import StatusProgress


def test_requests_add_up_and_never_go_back():
    # As compare reports them: a ranking of 600 models (three reports), then three group retrains of 3.
    reports = [Progress(0, 600, 0, 0.0), Progress(400, 600, 0, 4.0), Progress(600, 600, 0, 6.0)]
    for _ in range(3):
        reports += [Progress(0, 3, 0, 0.0), Progress(1, 3, 0, 0.1), Progress(3, 3, 1, 0.3)]
    reports.insert(3, Progress(0, 2, 0, 0.0, "estimates (Hessian and gradients)", "seeds"))  # a request of other units
    callback = StatusProgress(None, "Comparing", expected=609)
    seen = [callback.overall(p) for p in reports]
    done = [d for _, _, d, _ in seen]
    fractions = [f for f, _, _, _ in seen]
    assert done == sorted(done) and fractions == sorted(fractions), done
    assert done[-1] == 609 and {t for _, _, _, t in seen} == {609}
    assert seen[-1][1].startswith("609/609 models (3 cached)") and "step 5" in seen[-1][1]
    assert "overall 600/609 models" in seen[3][1]  # the estimates keep the overall count beside their own
