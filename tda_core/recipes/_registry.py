"""Named training recipes and the default recipe for each kind of data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline

from .._exceptions import UsageError
from ..data._dataset import Dataset
from ._base import Recipe
from ._convex import LogisticLbfgsRecipe
from ._logistic import LogisticSGDRecipe
from ._preprocessing import tabular_preprocessor
from ._sklearn_recipe import SklearnRecipe

#: Training rows from which a table's default recipe is the converged ``logistic-lbfgs``.
LARGE_TABLE_ROWS = 50_000
#: The study's checkpoints (appendix C.2): epochs 30, 40 and 50 of one SGD run.
PAPER_CHECKPOINTS = (30, 40, 50)


def paper_sgd() -> SklearnRecipe:
    """The paper's recipe (appendix C.2): SGD logistic regression, 50 epochs, checkpoints 30/40/50.

    Members are checkpoints of one run, so they share most of their training noise, and a
    removal changes the shuffling of every other row: single-sample effects are unreliable,
    and p-values need several runs (the statistics average checkpoints per run).
    """
    sgd = SGDClassifier(loss="log_loss", penalty="l2", random_state=0)
    return SklearnRecipe(make_pipeline(tabular_preprocessor(), sgd), name="paper-sgd", checkpoints=PAPER_CHECKPOINTS)


def logistic_lbfgs() -> LogisticLbfgsRecipe:
    """A converged L2 logistic regression: a deterministic model whose counterfactuals are exact
    optima, each reached from the baseline's (:mod:`~tda_core.recipes._convex`)."""
    return LogisticLbfgsRecipe()


def lbfgs_pipeline() -> SklearnRecipe:
    """The same model as a user's scikit-learn pipeline (preprocessing + ``LogisticRegression``),
    refit cold per edit through ``clone`` as a user's model file is (bench/bench_byom.py)."""
    return SklearnRecipe(make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=1000)), name="lbfgs-pipeline")


TABULAR_RECIPES: dict[str, Callable[[], Recipe]] = {
    "logistic-sgd": LogisticSGDRecipe,
    "paper-sgd": paper_sgd,
    "logistic-lbfgs": logistic_lbfgs,
}
RECIPE_NAMES = ("default", *TABULAR_RECIPES)


def network_params(
    epochs: int | None = None, mode: str | None = None, checkpoints: bool = False, device: str | None = None
) -> dict[str, Any]:
    """Constructor parameters of a network recipe from the user's options (None keeps the default).
    ``checkpoints``: the study's scheme, the last three epochs of one run as members.
    ``device``: auto, cpu or cuda (where networks train; results are cached the same on any)."""
    params: dict[str, Any] = {}
    if epochs is not None:
        params["epochs"] = epochs
    if mode is not None:
        params["mode"] = mode
    if checkpoints:
        from .torch._recipe import DEFAULT_IMAGE_EPOCHS

        last = params.get("epochs", DEFAULT_IMAGE_EPOCHS) if params.get("mode", "full") == "full" else 50
        params["checkpoints"] = tuple(range(max(1, last - 2), last + 1))
    if device is not None:
        params["device"] = device
    return params


def default_recipe(
    data: Dataset,
    epochs: int | None = None,
    mode: str = "full",
    checkpoints: bool = False,
    device: str | None = None,
    arch: str | None = None,
) -> Recipe:
    """The default recipe for the data kind; ``epochs`` overrides the recipe's epochs, ``arch``
    the network of image data (trained from its seeded initialisation).

    A table of :data:`LARGE_TABLE_ROWS` training rows or more gets ``logistic-lbfgs``: each of its
    counterfactuals is the exact optimum, reached from the baseline's in a few chord steps (250 on
    census income in about 10 s), where SGD trains every counterfactual for its epochs over every
    row; and a model that large has little seed noise for an ensemble to average."""
    if data.kind == "images":
        from .torch._recipe import TorchRecipe

        return TorchRecipe(arch or "small_cnn", **network_params(epochs, mode, checkpoints, device))
    if arch is not None:
        raise UsageError(f"an architecture ({arch}) applies to networks: image data, or PyTorch weights")
    if epochs is not None:
        return LogisticSGDRecipe(epochs=epochs)
    return LogisticLbfgsRecipe() if data.n_train >= LARGE_TABLE_ROWS else LogisticSGDRecipe()


def named_recipe(
    name: str,
    data: Dataset,
    epochs: int | None = None,
    mode: str = "full",
    checkpoints: bool = False,
    device: str | None = None,
    arch: str | None = None,
) -> Recipe:
    """A recipe by name: ``default`` or one of :data:`TABULAR_RECIPES`."""
    if name == "default":
        return default_recipe(data, epochs, mode, checkpoints, device, arch)
    if arch is not None:
        raise UsageError(f"an architecture ({arch}) applies to networks, not to the recipe {name}")
    if data.kind != "tabular" or name not in TABULAR_RECIPES:
        raise UsageError(f"unknown recipe {name!r} for {data.kind} data: choose default or {', '.join(TABULAR_RECIPES)}")
    recipe = TABULAR_RECIPES[name]()
    if epochs is not None:
        if not isinstance(recipe, LogisticSGDRecipe):
            raise UsageError(f"the recipe {name} has no epochs to set: they apply to logistic-sgd and to networks")
        recipe.set_params(epochs=epochs)
    return recipe
