"""How a model is trained: the recipe protocol, preprocessing, scikit-learn estimators, the
logistic default, named recipes and model files. What only some recipes do is a small protocol
(:mod:`.protocols`), asked with ``isinstance``. PyTorch networks live in ``recipes.torch``,
which imports torch only when a network is built."""

from .base import EvalOn, Member, Recipe
from .convex import LogisticLbfgsRecipe
from .files import load_model
from .logistic import LogisticSGDRecipe
from .protocols import Estimates, HasStart, MeasuresTraining, Represents, RoutesWeights, TrainsNetworks
from .registry import RECIPE_NAMES, TABULAR_RECIPES, default_recipe, named_recipe
from .sklearn_recipe import SklearnRecipe

__all__ = [
    "RECIPE_NAMES", "TABULAR_RECIPES", "Estimates", "EvalOn", "HasStart", "LogisticLbfgsRecipe", "LogisticSGDRecipe",
    "MeasuresTraining", "Member", "Recipe", "Represents", "RoutesWeights", "SklearnRecipe", "TrainsNetworks",
    "default_recipe", "load_model", "named_recipe",
]
