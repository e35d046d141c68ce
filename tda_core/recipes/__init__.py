"""How a model is trained: the recipe protocol, preprocessing, scikit-learn estimators, the
logistic default, named recipes and model files. What only some recipes do is a small protocol
(:mod:`.protocols`), asked with ``isinstance``. PyTorch networks live in ``recipes.torch``,
which imports torch only when a network is built."""

from ._base import EvalOn, Member, Recipe
from ._convex import LogisticLbfgsRecipe
from ._files import load_model
from ._logistic import LogisticSGDRecipe
from ._protocols import Estimates, HasStart, MeasuresTraining, Represents, RoutesWeights, TrainsNetworks
from ._registry import RECIPE_NAMES, TABULAR_RECIPES, default_recipe, named_recipe, network_params
from ._sklearn_recipe import SklearnRecipe

__all__ = [
    "RECIPE_NAMES",
    "TABULAR_RECIPES",
    "Estimates",
    "EvalOn",
    "HasStart",
    "LogisticLbfgsRecipe",
    "LogisticSGDRecipe",
    "MeasuresTraining",
    "Member",
    "Recipe",
    "Represents",
    "RoutesWeights",
    "SklearnRecipe",
    "TrainsNetworks",
    "default_recipe",
    "load_model",
    "named_recipe",
    "network_params",
]
