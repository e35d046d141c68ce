"""tda_core: which training data is behind a classifier's errors, measured by retraining.

The engine is importable without Streamlit or torch; torch loads only for networks.
The curated public API is below; subpackages hold the rest (``data``, ``recipes``,
``recipes.torch``, ``estimates``).
"""

from .actions import ACTIONS, Action, Edit, get_action
from .analysis import Analysis, Attribution, check_request
from .attribution import Baseline, Effect, Ranking
from .data import DEMOS, Dataset, load_demo, load_tabular, tabular_dataset
from .engine import Engine, Progress, RunConfig
from .errors import ErrorGroup, ErrorReport
from .exceptions import DataError, ModelError, TDAError, UntrustedFileError, UsageError
from .metrics import METRICS, Metric, get_metric
from .recipes import LogisticSGDRecipe, Recipe, SklearnRecipe, default_recipe, load_model, named_recipe
from .stats import reliability
from .training_groups import CandidateGroup, GroupRanking

__version__ = "0.2.0"

__all__ = [
    "ACTIONS", "DEMOS", "METRICS", "Action", "Analysis", "Attribution", "Baseline", "CandidateGroup", "DataError",
    "Dataset", "Edit", "Effect", "Engine", "ErrorGroup", "ErrorReport", "GroupRanking", "LogisticSGDRecipe", "Metric",
    "ModelError", "Progress", "Ranking", "Recipe", "RunConfig", "SklearnRecipe", "TDAError", "UntrustedFileError",
    "UsageError", "check_request", "default_recipe", "get_action", "get_metric", "load_demo", "load_model",
    "load_tabular", "named_recipe", "reliability", "tabular_dataset",
]
