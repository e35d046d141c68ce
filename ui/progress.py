"""The engine's progress callback drawn as ``st.status`` with a progress bar.

The status appears only when the engine reports work (training, or reading the disk cache): a
result the :class:`~tda_core.analysis.Analysis` already holds in memory draws nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import streamlit as st

from tda_core.analysis import Analysis
from tda_core.engine import Progress


class StatusProgress:
    """A ``ProgressCallback``: models done / total, rate and ETA (``Progress.describe()``), in a
    status box that is drawn into ``slot`` at the first report."""

    def __init__(self, slot, label: str, every: float = 0.15):
        self.slot = slot
        self.label = label
        self.every = every
        self.status = None
        self.bar = None
        self.last: Progress | None = None
        self._shown = 0.0

    def __call__(self, progress: Progress) -> None:
        self.last = progress
        if self.status is None:
            self.status = self.slot.status(self.label, expanded=True)
            self.bar = self.status.progress(0.0, text="starting…")
        now = time.monotonic()
        if progress.done >= progress.total or now - self._shown >= self.every:
            self.bar.progress(min(1.0, progress.fraction), text=progress.describe())
            self._shown = now


@contextlib.contextmanager
def retraining(label: str) -> Iterator[StatusProgress]:
    """Show a running status while the block retrains (pass the yielded callback to the engine
    as ``progress``); it collapses to a one-line summary."""
    started = time.perf_counter()
    callback = StatusProgress(st.empty(), label)
    try:
        yield callback
    except Exception:
        if callback.status is not None:
            callback.status.update(label=f"{label}: failed", state="error", expanded=True)
        raise
    if callback.status is not None:
        done = callback.last
        summary = f"{done.total} model{'' if done.total == 1 else 's'} ({done.cached} from the cache)" if done else "done"
        callback.status.update(label=f"{label}: {summary} in {time.perf_counter() - started:.1f} s", state="complete",
                               expanded=False)


def ensure_baseline(analysis: Analysis) -> None:
    if not analysis.has_baseline():
        with retraining("Training the baseline ensemble") as progress:
            analysis.compute_baseline(progress)
