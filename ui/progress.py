"""The engine's progress callback drawn as ``st.status`` with a progress bar."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

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
def retraining(label: str, analysis: Analysis | None = None) -> Iterator[StatusProgress]:
    """Show a running status while the block retrains; it collapses to a one-line summary.

    With ``analysis``, the engine's own callback is pointed here for the block too, for work
    that takes no ``progress`` argument (the baseline ensemble).
    """
    started = time.perf_counter()
    with st.status(label, expanded=True) as status:
        callback = StatusProgress(st.progress(0.0, text="starting…"))
        previous = analysis.engine.progress if analysis is not None else None
        if analysis is not None:
            analysis.engine.progress = callback
        try:
            yield callback
        except Exception:
            status.update(label=f"{label}: failed", state="error", expanded=True)
            raise
        finally:
            if analysis is not None:
                analysis.engine.progress = previous
        done = callback.last
        summary = f"{done.total} models ({done.cached} from the cache)" if done else "done"
        status.update(label=f"{label}: {summary} in {time.perf_counter() - started:.1f} s", state="complete", expanded=False)


def baseline_ready(analysis: Analysis) -> bool:
    """Whether the baseline ensemble is already trained (``Analysis.baseline`` is a cached_property)."""
    return "baseline" in vars(analysis)


def ensure_baseline(analysis: Analysis) -> None:
    if not baseline_ready(analysis):
        with retraining("Training the baseline ensemble", analysis):
            analysis.baseline  # noqa: B018 - computed once, kept by the Analysis
