"""The engine's progress callback drawn as ``st.status`` with a progress bar."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import streamlit as st

from tda_core.analysis import Analysis
from tda_core.engine import Progress


class StatusProgress:
    """A ``ProgressCallback``: models done / total, rate and ETA (``Progress.describe()``)."""

    def __init__(self, bar, every: float = 0.15):
        self.bar = bar
        self.every = every
        self.last: Progress | None = None
        self._shown = 0.0

    def __call__(self, progress: Progress) -> None:
        self.last = progress
        now = time.monotonic()
        if progress.done >= progress.total or now - self._shown >= self.every:
            self.bar.progress(min(1.0, progress.fraction), text=progress.describe())
            self._shown = now


@contextlib.contextmanager
def retraining(label: str) -> Iterator[StatusProgress]:
    """Show a running status while the block retrains (pass the yielded callback to the engine
    as ``progress``); it collapses to a one-line summary."""
    started = time.perf_counter()
    with st.status(label, expanded=True) as status:
        callback = StatusProgress(st.progress(0.0, text="starting…"))
        try:
            yield callback
        except Exception:
            status.update(label=f"{label}: failed", state="error", expanded=True)
            raise
        done = callback.last
        summary = f"{done.total} models ({done.cached} from the cache)" if done else "done"
        status.update(label=f"{label}: {summary} in {time.perf_counter() - started:.1f} s", state="complete", expanded=False)


def ensure_baseline(analysis: Analysis) -> None:
    if not analysis.has_baseline():
        with retraining("Training the baseline ensemble") as progress:
            analysis.compute_baseline(progress)
