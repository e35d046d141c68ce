"""What a run will cost before the user starts it: the number of models from the engine's own
counts, and the time from the rate measured in this session (models trained per second by this
recipe on this data, see :func:`record_rate`).

Only single-sample rankings measure the rate: the engine trains their thousands of edits in
chunks, far faster per model than the few models of a baseline, so a baseline's rate would
overstate a ranking's time many times over. Before the first ranking, the count alone is shown."""

from __future__ import annotations

import math

import streamlit as st

from tda_core import Progress, limits
from tda_core.estimates import random_extra
from tda_core.recipes import TrainsNetworks

from . import state

#: Runs whose estimate is longer than this many seconds wait for a click (with their estimate shown).
LONG_RUN = 90.0


def rate_key(data_fingerprint: str, recipe_fingerprint: str) -> str:
    return f"{data_fingerprint}|{recipe_fingerprint}"


def record_rate(key: str | None, progress: Progress | None) -> None:
    """Keep the rate of a finished run (models trained per second, cache hits excluded)."""
    if key is None or progress is None or progress.phase != "retraining" or progress.unit != "models":
        return  # estimates and preprocessing are no rate of retraining
    trained = progress.done - progress.cached
    if trained >= 1 and progress.elapsed > 0:
        state.rates()[key] = trained / progress.elapsed
        (st.session_state.get(MEASURED_ON_FIRST_UNIT) or {}).pop(key, None)  # now a whole ranking's rate


BASELINE_RATES = "baseline_rates"  # {rate key: baseline models trained per second}, measured in this session


def full_network(recipe) -> bool:
    """A network retrained whole for every counterfactual (full mode): each model of a ranking costs
    about what a baseline member cost, so the baseline's time is an estimate before any ranking."""
    return isinstance(recipe, TrainsNetworks) and recipe.mode == "full"


def record_baseline_rate(key: str | None, progress: Progress | None) -> None:
    """Keep the rate at which the baseline's members trained (cache hits excluded)."""
    if key is None or progress is None or progress.unit != "models":
        return
    trained = progress.done - progress.cached
    if trained >= 1 and progress.elapsed > 0:
        st.session_state.setdefault(BASELINE_RATES, {})[key] = trained / progress.elapsed


def baseline_rate(key: str) -> float | None:
    return (st.session_state.get(BASELINE_RATES) or {}).get(key)


#: The most a pace probe may train before the page says what a ranking costs, in seconds at the
#: baseline's own pace, one network at a time: a unit of stacked networks trains 2.6-2.9x faster a
#: network (bench_images), so this bound means about 10 s of waiting. In the dashboard the digits
#: baseline (10 epochs) priced a unit of 30 at about 10 s, and the unit took 2.5 s.
PROBE_SECONDS = 30.0
MEASURED_ON_FIRST_UNIT = "measured_on_first_unit"  # {rate key: networks of the unit the pace was measured on}


def probe_pace(analysis, action: str, group, key: str, models: int) -> None:
    """Before the first ranking of stacked networks (full mode, more than one network a unit), the
    baseline's pace, one network at a time, overstates a ranking's time several times over (digits:
    229 s for a 41 s ranking). Where one unit would take at most :data:`PROBE_SECONDS` at the
    baseline's pace, train the ranking's first unit now (cached: the ranking starts from it) and
    keep its pace, with the workers the engine will use, as this session's rate for the ranking's
    ``models``."""
    recipe, data = analysis.recipe, analysis.data
    chunk = int(recipe.chunk_for(data))
    baseline = baseline_rate(key)
    if (not full_network(recipe) or chunk < 2 or state.rates().get(key) is not None or baseline is None
            or not analysis.config.use_cache or chunk / baseline > PROBE_SECONDS):
        return
    with st.spinner(f"Timing the ranking's first batch of {chunk} networks, to say what the whole ranking takes…"):
        pace = analysis.ranking_pace(action, group)
    if pace is None:
        return
    state.rates()[key] = models / pace.seconds(models)
    st.session_state.setdefault(MEASURED_ON_FIRST_UNIT, {})[key] = (pace.unit_models, pace.workers)


def rate(key: str, full: bool = False) -> float | None:
    """Models per second of a ranking: measured by a ranking in this session; for a full network
    before one, the baseline's own rate (each counterfactual retrains the whole network)."""
    measured = state.rates().get(key)
    if measured is not None or not full:
        return measured
    return baseline_rate(key)


def basis(key: str, full: bool = False) -> str:
    """Where :func:`rate` comes from, in words."""
    first = (st.session_state.get(MEASURED_ON_FIRST_UNIT) or {}).get(key)
    if first is not None and state.rates().get(key) is not None:
        networks, workers = first
        return (f"at the pace of the ranking's first {networks} networks, measured now"
                + (f", on {workers} workers" if workers > 1 else ""))
    if state.rates().get(key) is not None:
        return "at the rate measured in this session"
    if full and rate(key, full) is not None:
        return "at the rate the baseline's networks trained in this session (retraining in batches may be faster)"
    return "a time not measured yet: every model retrains a whole network" if full else ""


def asks(seconds_: float | None, full: bool = False) -> bool:
    """Whether a run waits for a click: estimated above LONG_RUN, or a full network's of unknown time."""
    return (seconds_ is None and full) or (seconds_ is not None and seconds_ > LONG_RUN)


def seconds(models: int, per_second: float | None) -> float | None:
    return None if not per_second else models / per_second


def duration(secs: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1.5 h': a rough figure, as an estimate deserves."""
    if secs < 1:
        return "under a second"
    if secs < 90:
        return f"about {max(1, round(secs / 5) * 5) if secs >= 10 else math.ceil(secs)} s"
    if secs < 90 * 60:
        return f"about {round(secs / 60)} min"
    return f"about {secs / 3600:.1f} h"


def models_text(n: int) -> str:
    return f"about {n:,} model{'' if n == 1 else 's'}"


def describe(models: int, per_second: float | None, full: bool = False) -> str:
    """'about 900 models, about 2 min' (or without a time before anything was measured)."""
    secs = seconds(models, per_second)
    if secs is None:
        if full:
            return f"{models_text(models)}, each a whole network trained from scratch (time not measured yet)"
        return f"{models_text(models)} (the time is measured by the first ranking)"
    return f"{models_text(models)}, {duration(secs)}"


def runs(members, recipe) -> int:
    """Training runs behind these members (checkpoints of one run share it): the engine's unit of
    count; one for a recipe whose every seed is one model (logistic-lbfgs), as the engine trains it."""
    return limits.trained_members(recipe, len({m.seed for m in members}))


def ranking_models(n_train: int, runs: int, candidates: int | None = None) -> int:
    """Models one single-sample ranking trains: one per training sample and run (candidate mode:
    the candidates and their random check sample)."""
    per = n_train if not candidates else min(n_train, candidates + random_extra(candidates))
    return per * runs
