"""The dashboard's state: a few named keys in ``st.session_state``.

Widgets that hold a user's choice use these keys directly with ``persist_state="session"``,
so Streamlit keeps their values while their page is not shown: moving between pages never
resets a choice. :func:`init` (called by the router) fills in the defaults once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

# --- Step 1: data and model ---------------------------------------------------------------
SOURCE = "source"  # "demo" | "table" | "images"
DEMO = "demo"  # name of an embedded demo (tda_core.demos.DEMOS)
UPLOAD = "upload"  # Upload of the data table / image ZIP (kept after the uploader is gone)
TEST_UPLOAD = "test_upload"  # Upload of a separate test table, or None
TARGET = "target"  # target column of an uploaded table
TEST_MODE = "test_mode"  # "split" | "file"
TEST_SIZE = "test_size"  # fraction of an uploaded table held out for testing
MODEL_SOURCE = "model_source"  # "recipe" | "upload"
RECIPE = "recipe"  # named recipe: default, logistic-sgd, paper-sgd, logistic-lbfgs
MODEL_UPLOAD = "model_upload"  # Upload of a model file, or None for the named recipe
TRUST = "trust"  # the user trusts a model file that runs code when loaded
ARCH = "arch"  # architecture of uploaded PyTorch weights
NET_MODE = "net_mode"  # networks (image data): "full" retrains every layer, "head" only the last one
EPOCHS = "epochs"  # networks: training epochs, or None for the recipe's default
MEMBERS = "members"  # networks: "seeds" (independent runs, the default) | "checkpoints" (of one run: the study's scheme)
# Run settings (RunConfig)
ENSEMBLE, SEED, N_JOBS, BACKEND, SCHEDULER = "ensemble", "seed", "n_jobs", "backend", "scheduler"
USE_CANDIDATES = "use_candidates"  # candidate mode: estimate every sample, retrain only the top CANDIDATES
CANDIDATES = "candidates"  # N of candidate mode

# --- Step 2: errors -----------------------------------------------------------------------
GROUP = "group"  # (true, pred) class names of the chosen error group, or None
TESTS = "tests"  # chosen test indices of that group; () means the whole group

# --- Step 3: attribution ------------------------------------------------------------------
ACTION, METRIC, SIZE, LARGE, ALPHA = "action", "metric", "size", "large_groups", "alpha"
UNIT = "unit"  # rank "sample" (single training samples) | "group" (candidate training groups)
SHOWN_GROUP = "shown_group"  # group_id of the candidate group whose members are shown, or None for the best
RESULT = "result"  # the last tda_core.analysis.Attribution shown

# --- Step 4: fix --------------------------------------------------------------------------
FIX_INDICES = "fix_indices"  # training indices to act on (editable, seeded from RESULT)
FIX_SEEDED_FROM = "fix_seeded_from"  # (action, selected) that FIX_INDICES was last seeded from
REASON = "reason"  # free text recorded in the manifest

ANALYSIS_ID = "analysis_id"  # identity of the (data, recipe, run) that GROUP and RESULT belong to


@dataclass(frozen=True)
class Upload:
    """An uploaded file, kept in the session after its uploader leaves the page."""

    name: str
    data: bytes
    digest: str

    @property
    def size_kb(self) -> float:
        return len(self.data) / 1024


DEFAULTS: dict[str, Any] = {
    SOURCE: "demo",
    DEMO: "credit",
    UPLOAD: None,
    TEST_UPLOAD: None,
    TARGET: None,
    TEST_MODE: "split",
    TEST_SIZE: 0.2,
    MODEL_SOURCE: "recipe",
    RECIPE: "default",
    MODEL_UPLOAD: None,
    TRUST: False,
    ARCH: "small_cnn",
    NET_MODE: "full",
    EPOCHS: None,
    MEMBERS: "seeds",
    ENSEMBLE: 3,
    SEED: 0,
    N_JOBS: 1,
    BACKEND: "loky",
    SCHEDULER: "",
    USE_CANDIDATES: False,
    CANDIDATES: 100,
    GROUP: None,
    TESTS: (),
    ACTION: "relabel",
    METRIC: "gt_prob",
    SIZE: 10,
    LARGE: False,
    ALPHA: 0.05,
    UNIT: "sample",
    SHOWN_GROUP: None,
    RESULT: None,
    FIX_INDICES: [],
    FIX_SEEDED_FROM: None,
    REASON: "",
}

def init() -> None:
    """Fill in defaults for keys the session has not set yet."""
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def get(key: str) -> Any:
    return st.session_state.get(key, DEFAULTS.get(key))


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def choose_group(group: tuple[str, str] | None) -> None:
    """A new error group: its test-sample subset starts over as the whole group."""
    if group != st.session_state.get(GROUP):
        st.session_state[GROUP] = group
    st.session_state[TESTS] = ()


def reset_analysis_choices() -> None:
    """New data or model: error groups and results of the old one no longer apply."""
    for key in (GROUP, TESTS, SHOWN_GROUP, RESULT, FIX_INDICES, FIX_SEEDED_FROM):
        st.session_state[key] = DEFAULTS[key]
