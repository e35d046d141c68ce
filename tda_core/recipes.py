"""Named training recipes and the default recipe for each kind of data."""

from __future__ import annotations

from typing import Callable

from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline

from .data import Dataset
from .exceptions import UsageError
from .logistic import LogisticSGDRecipe
from .models import Recipe, SklearnRecipe, tabular_preprocessor


def paper_sgd() -> SklearnRecipe:
    """The paper's recipe (appendix C.2): SGD logistic regression, 50 epochs, checkpoints 30/40/50.

    Members are checkpoints of one run, so they share most of their training noise, and a
    removal changes the shuffling of every other row: single-sample effects are unreliable.
    """
    sgd = SGDClassifier(loss="log_loss", penalty="l2", random_state=0)
    return SklearnRecipe(make_pipeline(tabular_preprocessor(), sgd), name="paper-sgd", checkpoints=(30, 40, 50))


def logistic_lbfgs() -> SklearnRecipe:
    """A converged logistic regression, warm-started from the baseline (deterministic: p is 0 or 1)."""
    estimator = make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=1000))
    return SklearnRecipe(estimator, name="logistic-lbfgs", warm_start=True)


TABULAR_RECIPES: dict[str, Callable[[], Recipe]] = {
    "logistic-sgd": LogisticSGDRecipe,
    "paper-sgd": paper_sgd,
    "logistic-lbfgs": logistic_lbfgs,
}


def default_recipe(data: Dataset, epochs: int | None = None, mode: str = "full") -> Recipe:
    """The default recipe for the data kind; ``epochs`` overrides the recipe's epochs."""
    if data.kind == "images":
        from .torch_recipes import default_image_recipe

        return default_image_recipe(data, epochs=epochs, mode=mode)
    return LogisticSGDRecipe() if epochs is None else LogisticSGDRecipe(epochs=epochs)


def named_recipe(name: str, data: Dataset, epochs: int | None = None, mode: str = "full") -> Recipe:
    if name == "default":
        return default_recipe(data, epochs, mode)
    if data.kind != "tabular" or name not in TABULAR_RECIPES:
        raise UsageError(f"unknown recipe {name!r} for {data.kind} data: choose default or {', '.join(TABULAR_RECIPES)}")
    recipe = TABULAR_RECIPES[name]()
    if epochs is not None and isinstance(recipe, LogisticSGDRecipe):
        recipe = LogisticSGDRecipe(epochs=epochs)
    return recipe
