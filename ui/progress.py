"""The engine's progress callback drawn as ``st.status`` with a progress bar and a Stop button.

The status appears only when the engine reports work (training, or reading the disk cache): a
result the :class:`~tda_core.Analysis` already holds in memory draws nothing.

Stop: a click reruns the page, which interrupts the script inside the progress callback (the
engine stops; every model finished so far is already in its disk cache). The button's callback
records the stopped run (``SessionNotes.stopped``), so the rerun does not start it again: the page says
what was kept and offers to continue (:func:`stopped_here`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import streamlit as st

from tda_core import Analysis, Progress

from . import cost, state

LAST_PROGRESS = "last_progress"  # (label, done, total) of the last report: what a stop kept


class StatusProgress:
    """A ``ProgressCallback``: models done / total, rate and ETA (``Progress.describe()``), in a
    status box that is drawn into ``slot`` at the first report."""

    def __init__(self, slot, label: str, every: float = 0.15, stop_key: str | None = None, expected: int | None = None):
        self.slot = slot
        #: Models the whole block trains over several engine requests (each counting from 0): the
        #: bar then shows one overall count that never goes back (None: one request).
        self.expected = expected
        self._base = (0, 0)  # (done, cached) models of the finished requests
        self._step: tuple | None = None
        self._step_done = (0, 0)
        self._steps = 0
        self._started = time.monotonic()
        self.label = label
        self.stop_key = stop_key
        self.every = every
        self.status = None
        self.bar = None
        self.stop_slot = None
        self.last: Progress | None = None
        self._shown = 0.0

    def overall(self, progress: Progress) -> tuple[float, str, int, int]:
        """(fraction, text, done, total) of the whole block: requests add up, in models."""
        step = (progress.phase, progress.unit, progress.total)
        if step != self._step or progress.done < self._step_done[0]:
            if self._step is not None and self._step[1] == "models":
                self._base = (self._base[0] + self._step_done[0], self._base[1] + self._step_done[1])
            self._step, self._steps = step, self._steps + 1
        self._step_done = (progress.done, progress.cached)
        base_done, base_cached = self._base
        if progress.unit != "models":
            total = max(int(self.expected or 0), base_done, 1)
            return base_done / total, f"{progress.describe()} · overall {base_done:,}/{total:,} models", base_done, total
        done, total = base_done + progress.done, max(int(self.expected or 0), base_done + progress.total)
        combined = Progress(done, total, base_cached + progress.cached, time.monotonic() - self._started, progress.phase)
        return combined.fraction, f"{combined.describe()} · step {self._steps}", done, total

    def __call__(self, progress: Progress) -> None:
        self.last = progress
        fraction, text, done, total = (self.overall(progress) if self.expected is not None else
                                       (progress.fraction, progress.describe(), progress.done, progress.total))
        st.session_state[LAST_PROGRESS] = (self.label, done, total)
        if self.status is None:
            self.status = self.slot.status(self.label, expanded=True)
            self.bar = self.status.progress(0.0, text="starting…")
            if self.stop_key is not None and progress.done < progress.total:
                self.stop_slot = self.status.empty()
                self.stop_slot.button("Stop", key=f"stop:{self.stop_key}", icon=":material/stop_circle:",
                                   on_click=state.stop_run, args=(self.stop_key,),
                                   help="Stop after the model in training: every finished model stays in the cache, "
                                        "so continuing later starts where this run stopped.")
        now = time.monotonic()
        if progress.done >= progress.total or now - self._shown >= self.every:
            self._fraction = max(getattr(self, "_fraction", 0.0), min(1.0, fraction))  # never back
            self.bar.progress(self._fraction, text=text)
            self._shown = now


@contextlib.contextmanager
def retraining(label: str, rate_key: str | None = None, stoppable: bool = True,
               steps: bool = False, expected: int | None = None) -> Iterator[StatusProgress]:
    """Show a running status while the block retrains (pass the yielded callback to the engine
    as ``progress``); it collapses to a one-line summary. ``rate_key``: where the measured rate
    of this recipe on this data is kept for the estimates (:mod:`ui.cost`). ``steps``: the block
    makes several engine requests, each reporting its own count, so the summary gives the time only;
    ``expected``: the models they train together, so the bar shows one overall progress."""
    started = time.perf_counter()
    callback = StatusProgress(st.empty(), label, stop_key=label if stoppable else None, expected=expected)
    try:
        yield callback
    except Exception:
        if callback.status is not None:
            callback.status.update(label=f"{label}: failed", state="error", expanded=True)
        raise
    cost.record_rate(rate_key, callback.last)
    if callback.stop_slot is not None:
        callback.stop_slot.empty()
    if callback.status is not None:
        done = callback.last
        summary = f"{done.total} model{'' if done.total == 1 else 's'} ({done.cached} from the cache)" \
            if done and not steps else "done"
        callback.status.update(label=f"{label}: {summary} in {time.perf_counter() - started:.1f} s", state="complete",
                               expanded=False)


def stopped_here(label: str) -> bool:
    """Whether the user stopped the run ``label``; if so, say so and offer to continue it."""
    if state.notes().stopped != label:
        return False
    last = st.session_state.get(LAST_PROGRESS)
    kept = f"{last[1]:,} of {last[2]:,} models were finished; they are" if last and last[0] == label else \
        "Every model finished before the stop is"
    st.warning(f"Stopped: {label[0].lower()}{label[1:]}. {kept} kept in the cache, so continuing starts where it "
               "stopped.", icon=":material/stop_circle:")
    st.button("Continue", icon=":material/play_arrow:", on_click=state.stop_run, args=(None,), key=f"go:{label}")
    return True


def ensure_baseline(analysis: Analysis) -> bool:
    """Train the baseline unless it is ready; False where the user stopped it."""
    label = "Training the baseline ensemble"
    if not analysis.has_baseline():
        if stopped_here(label):
            return False
        with retraining(label) as progress:
            analysis.compute_baseline(progress)
        cost.record_baseline_rate(cost.rate_key(analysis.data.fingerprint, analysis.recipe.fingerprint()), progress.last)
    return True
