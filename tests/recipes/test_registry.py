"""Named recipes, the default recipe per kind of data, and the scikit-learn shape of every recipe."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, SGDClassifier

from tda_core._exceptions import UsageError
from tda_core.recipes import RECIPE_NAMES, TABULAR_RECIPES, LogisticSGDRecipe, SklearnRecipe, default_recipe, named_recipe
from tda_core.recipes._convex import LogisticLbfgsRecipe
from tda_core.recipes._registry import PAPER_CHECKPOINTS, lbfgs_pipeline, network_params, paper_sgd


def test_the_named_recipes(credit):
    assert RECIPE_NAMES == ("default", "logistic-sgd", "paper-sgd", "logistic-lbfgs")
    assert set(TABULAR_RECIPES) == set(RECIPE_NAMES[1:])
    assert isinstance(named_recipe("default", credit), LogisticSGDRecipe)
    assert named_recipe("logistic-sgd", credit, epochs=4).epochs == 4
    paper = named_recipe("paper-sgd", credit)
    assert paper.display_name == "paper-sgd" and paper.checkpoint_epochs == PAPER_CHECKPOINTS == (30, 40, 50)
    assert paper.members_per_run == 3 and isinstance(paper.final_step, SGDClassifier)
    assert paper.final_step.get_params()["loss"] == "log_loss"
    lbfgs = named_recipe("logistic-lbfgs", credit)
    assert isinstance(lbfgs, LogisticLbfgsRecipe) and lbfgs.display_name == "logistic-lbfgs" and lbfgs.warm_start
    assert isinstance(lbfgs_pipeline().final_step, LogisticRegression) and not lbfgs_pipeline().warm_start
    # Each call builds a fresh recipe: changing one changes no other.
    paper.set_params(name="mine")
    assert paper_sgd().display_name == "paper-sgd"


def test_unknown_names_are_refused(credit, tiny_images):
    with pytest.raises(UsageError, match="unknown recipe 'forest' for tabular data: choose default or logistic-sgd, paper-sgd, logistic-lbfgs"):
        named_recipe("forest", credit)
    with pytest.raises(UsageError, match="unknown recipe 'paper-sgd' for images data"):
        named_recipe("paper-sgd", tiny_images)


def test_default_recipes(credit, tiny_images):
    assert default_recipe(credit).get_params() == LogisticSGDRecipe().get_params()
    assert default_recipe(credit, epochs=7).epochs == 7
    network = default_recipe(tiny_images, epochs=3, mode="head", checkpoints=True)
    assert (network.arch, network.epochs, network.mode, network.checkpoint_epochs) == ("small_cnn", 3, "head", (48, 49, 50))
    network = default_recipe(tiny_images)
    assert (network.arch, network.epochs, network.mode, network.checkpoints) == ("small_cnn", 10, "full", None)
    assert network.members(3) == [m for m in network.members(3) if m.checkpoint == 0]  # independent seeds


def test_a_large_table_defaults_to_the_converged_logistic_regression():
    from tda_core.data._demos import load_census
    from tda_core.recipes._registry import LARGE_TABLE_ROWS

    census = load_census(test_rows=100)
    assert census.n_train == 199_523 >= LARGE_TABLE_ROWS
    assert isinstance(default_recipe(census), LogisticLbfgsRecipe)
    assert isinstance(named_recipe("default", census), LogisticLbfgsRecipe)
    # Epochs name SGD's training, and a table under the threshold keeps SGD.
    assert isinstance(default_recipe(census, epochs=3), LogisticSGDRecipe)
    assert isinstance(default_recipe(load_census(LARGE_TABLE_ROWS - 1, 100)), LogisticSGDRecipe)


def test_network_params_from_the_users_options():
    assert network_params() == {}
    assert network_params(epochs=5) == {"epochs": 5}
    assert network_params(checkpoints=True) == {"checkpoints": (8, 9, 10)}  # the last three of the default 10 epochs
    assert network_params(epochs=5, checkpoints=True) == {"epochs": 5, "checkpoints": (3, 4, 5)}
    assert network_params(epochs=2, checkpoints=True) == {"epochs": 2, "checkpoints": (1, 2)}
    assert network_params(mode="head", checkpoints=True) == {"mode": "head", "checkpoints": (48, 49, 50)}  # of the 50 head epochs


def _torch_recipe(**kwargs):
    from tda_core.recipes.torch._recipe import TorchRecipe

    return TorchRecipe("mlp", epochs=2, **kwargs)


def _uploaded():
    import torch

    return _torch_recipe(mode="head", initial_state={"0.weight": torch.ones(2, 3), "0.bias": torch.zeros(2)}, name="uploaded")


def _credit():
    from tda_core.data import load_demo

    return load_demo("credit")


#: Every kind of recipe, a parameter to set, and whether it changes what the recipe trains.
RECIPES = {
    "logistic-sgd": (lambda: LogisticSGDRecipe(epochs=3), "batch_size", 5, True),
    "paper-sgd": (lambda: named_recipe("paper-sgd", _credit()), "checkpoints", (10, 20), True),
    "logistic-lbfgs": (lambda: named_recipe("logistic-lbfgs", _credit()), "C", 0.5, True),
    "lbfgs-pipeline": (lambda: lbfgs_pipeline(), "name", "renamed", False),
    "sklearn": (lambda: SklearnRecipe(LogisticRegression(C=0.5), name="lr", warm_start=True), "warm_start", False, True),
    "torch": (lambda: _torch_recipe(checkpoints=(1, 2)), "lr", 0.01, True),
    "torch-uploaded": (_uploaded, "name", "renamed", False),
}


@pytest.mark.parametrize("kind", list(RECIPES))
def test_every_recipe_clones_and_sets_params_like_an_estimator(kind):
    make, name, value, trains_differently = RECIPES[kind]
    recipe = make()
    copy = clone(recipe)
    assert type(copy) is type(recipe) and copy is not recipe
    assert copy.fingerprint() == recipe.fingerprint()
    assert copy.get_params(deep=False).keys() == recipe.get_params(deep=False).keys()
    # set_params mutates the recipe and returns it; the fingerprint follows what is trained.
    before = recipe.fingerprint()
    assert recipe.set_params(**{name: value}) is recipe
    assert recipe.get_params()[name] == value
    assert (recipe.fingerprint() != before) is trains_differently
    assert copy.get_params()[name] != value  # the clone is independent


def test_a_clone_copies_uploaded_weights():
    import torch

    recipe = _uploaded()
    copy = clone(recipe)
    assert copy.initial_state is not recipe.initial_state
    assert all(torch.equal(copy.initial_state[k], v) for k, v in recipe.initial_state.items())
    copy.initial_state["0.bias"] += 1  # changing the copy's weights leaves the original alone
    assert float(recipe.initial_state["0.bias"].sum()) == 0.0
    assert copy.fingerprint() != recipe.fingerprint()


def test_nested_estimator_params_are_reachable():
    recipe = lbfgs_pipeline()
    assert recipe.set_params(estimator__logisticregression__C=0.25) is recipe
    assert recipe.final_step.C == 0.25
    assert clone(recipe).final_step.C == 0.25


def test_choosing_a_recipe_imports_no_torch(tiny_images):
    code = (
        "import sys\n"
        "from tda_core.recipes import default_recipe, named_recipe\n"
        "from tda_core.data import load_demo\n"
        "sys.path.insert(0, 'tests')\n"
        "from planted import tiny_images\n"
        "recipe = default_recipe(tiny_images(), epochs=2)\n"
        "assert recipe.fingerprint() and recipe.arch == 'small_cnn'\n"
        "named_recipe('paper-sgd', load_demo('credit'))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
