"""tda_core: which training data is behind a classifier's errors, measured by retraining.

The engine is importable without Streamlit or torch; torch loads only for networks.
The curated public API is below; subpackages hold the rest (``data``, ``recipes``,
``recipes.torch``, ``estimates``).
"""

from .actions import ACTIONS, Action, Edit, get_action
from .analysis import Analysis, Attribution, check_request
from .attribution import Baseline, Effect, Ranking
from .compare import Comparison, compare
from .data import DEMOS, Dataset, load_demo, load_tabular, tabular_dataset
from .engine import Engine, Progress, RunConfig
from .ensemble_growth import EnsembleGrowth, Growth, GrowthStep, grow_ensemble
from .errors import ErrorGroup, ErrorReport
from .exceptions import DataError, ModelError, TDAError, UntrustedFileError, UsageError
from .feature_attribution import FeatureAttribution, feature_attribution
from .fix import corrected_training_set, hand_edited_training_set, read_manifest, replay_manifest
from .metrics import METRICS, Metric, get_metric
from .recipes import LogisticSGDRecipe, Recipe, SklearnRecipe, default_recipe, load_model, named_recipe
from .similar import SimilarSamples, similar_samples
from .stats import Reliability, reliability, reliability_estimate
from .training_groups import CandidateGroup, GroupRanking

__version__ = "0.2.0"

__all__ = [
    "ACTIONS",
    "DEMOS",
    "METRICS",
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
    "FeatureAttribution",
    "GroupRanking",
    "Growth",
    "GrowthStep",
    "LogisticSGDRecipe",
    "Metric",
    "ModelError",
    "Progress",
    "Ranking",
    "Recipe",
    "Reliability",
    "RunConfig",
    "SimilarSamples",
    "SklearnRecipe",
    "TDAError",
    "UntrustedFileError",
    "UsageError",
    "check_request",
    "compare",
    "corrected_training_set",
    "default_recipe",
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
    "replay_manifest",
    "similar_samples",
    "tabular_dataset",
]
