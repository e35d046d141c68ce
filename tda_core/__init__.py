"""tda_core: which training data is behind a classifier's errors, measured by retraining.

The engine is importable without Streamlit or torch; torch loads only for networks.
The curated public API is below; subpackages hold the rest (``data``, ``recipes``,
``recipes.torch``, ``estimates``).
"""

from ._actions import ACTIONS, POOL, TRAINING, Action, Edit, Subject, available_actions, edit_text, get_action, subject_of
from ._analysis import Analysis, Attribution, check_action, check_request
from ._attribution import Baseline, Effect, Ranking, TestEffect
from ._cache import cache_dir
from ._compare import Comparison, Setting, compare
from ._engine import BACKENDS, Engine, Pace, Progress, RunConfig
from ._ensemble_growth import EnsembleGrowth, Growth, GrowthStep, grow_ensemble
from ._errors import SLICE, ErrorGroup, ErrorReport
from ._exceptions import DataError, ModelError, TDAError, UntrustedFileError, UsageError
from ._feature_attribution import FeatureAttribution, feature_attribution
from ._fix import (
    Verification,
    corrected_training_set,
    edited_arrays,
    hand_edited_training_set,
    read_manifest,
    replay_manifest,
    verify,
)
from ._metrics import METRIC_LABELS, METRICS, Metric, get_metric
from ._report import build_report, cell_colours, saliency_overlay, top_train_indices, triage_report
from ._request import Request, check_alpha
from ._similar import DEFAULT_K, SimilarSamples, similar_samples, similar_to_errors
from ._slices import ErrorSlice
from ._stats import LOW_RELIABILITY, Reliability, reliability, reliability_estimate, reliability_verdict
from ._training_groups import CandidateGroup, GroupRanking
from .data import DEMOS, Dataset, load_demo, load_tabular, tabular_dataset
from .recipes import LogisticSGDRecipe, Recipe, SklearnRecipe, default_recipe, load_model, named_recipe

__version__ = "0.2.0"

__all__ = [
    "ACTIONS",
    "BACKENDS",
    "DEFAULT_K",
    "DEMOS",
    "LOW_RELIABILITY",
    "METRICS",
    "METRIC_LABELS",
    "POOL",
    "SLICE",
    "TRAINING",
    "Action",
    "Analysis",
    "Attribution",
    "Baseline",
    "CandidateGroup",
    "Comparison",
    "DataError",
    "Dataset",
    "Edit",
    "Effect",
    "Engine",
    "EnsembleGrowth",
    "ErrorGroup",
    "ErrorReport",
    "ErrorSlice",
    "FeatureAttribution",
    "GroupRanking",
    "Growth",
    "GrowthStep",
    "LogisticSGDRecipe",
    "Metric",
    "ModelError",
    "Pace",
    "Progress",
    "Ranking",
    "Recipe",
    "Reliability",
    "Request",
    "RunConfig",
    "Setting",
    "SimilarSamples",
    "SklearnRecipe",
    "Subject",
    "TDAError",
    "TestEffect",
    "UntrustedFileError",
    "UsageError",
    "Verification",
    "available_actions",
    "build_report",
    "cache_dir",
    "cell_colours",
    "check_action",
    "check_alpha",
    "check_request",
    "compare",
    "corrected_training_set",
    "default_recipe",
    "edit_text",
    "edited_arrays",
    "feature_attribution",
    "get_action",
    "get_metric",
    "grow_ensemble",
    "hand_edited_training_set",
    "load_demo",
    "load_model",
    "load_tabular",
    "named_recipe",
    "read_manifest",
    "reliability",
    "reliability_estimate",
    "reliability_verdict",
    "replay_manifest",
    "saliency_overlay",
    "similar_samples",
    "similar_to_errors",
    "subject_of",
    "tabular_dataset",
    "top_train_indices",
    "triage_report",
    "verify",
]
