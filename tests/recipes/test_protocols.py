"""The recipe protocols: every shipped recipe satisfies exactly the ones it implements, the engine
and the budget ask them instead of flags, and no attribute probing of recipes comes back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tda_core._actions import ACTIONS
from tda_core._engine import Engine, RunConfig
from tda_core._exceptions import ModelError
from tda_core._metrics import METRICS
from tda_core.data import tabular_dataset
from tda_core.limits import network_training_bytes, trained_members
from tda_core.recipes import (
    Estimates,
    HasStart,
    LogisticLbfgsRecipe,
    LogisticSGDRecipe,
    MeasuresTraining,
    Represents,
    RoutesWeights,
    SklearnRecipe,
    TrainsNetworks,
)
from tda_core.recipes._design import design, has_design
from tda_core.recipes._preprocessing import tabular_preprocessor
from tda_core.recipes._registry import paper_sgd
from tda_core.recipes.torch._networks import ARCHITECTURES
from tda_core.recipes.torch._recipe import TorchRecipe

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = (HasStart, Estimates, Represents, RoutesWeights, MeasuresTraining, TrainsNetworks)


def uploaded_head() -> TorchRecipe:
    return TorchRecipe(mode="head", initial_state=ARCHITECTURES["small_cnn"](10, (1, 28, 28)).state_dict())


#: Recipe -> (HasStart, Estimates, Represents, RoutesWeights, MeasuresTraining, TrainsNetworks).
SATISFIES = {
    "LogisticRegression": (lambda: SklearnRecipe(LogisticRegression()), (False, False, True, True, False, False)),
    "KNeighbors pipeline": (lambda: SklearnRecipe(make_pipeline(tabular_preprocessor(), KNeighborsClassifier())),
                            (False, False, True, True, False, False)),
    "HistGradientBoosting": (lambda: SklearnRecipe(HistGradientBoostingClassifier()), (False, False, True, True, False, False)),
    "paper-sgd": (paper_sgd, (False, False, True, True, False, False)),
    "logistic-sgd": (LogisticSGDRecipe, (False, True, True, False, False, False)),
    "logistic-lbfgs": (LogisticLbfgsRecipe, (True, True, True, False, False, False)),
    "network, full": (TorchRecipe, (True, True, True, False, True, True)),
    "network, head": (lambda: TorchRecipe(mode="head"), (True, True, True, False, True, True)),
    "network, head, uploaded weights": (uploaded_head, (True, True, True, False, True, True)),
}


@pytest.mark.parametrize("name", SATISFIES)
def test_every_recipe_satisfies_exactly_its_protocols(name):
    make, expected = SATISFIES[name]
    recipe = make()
    assert tuple(isinstance(recipe, p) for p in PROTOCOLS) == expected


def test_what_a_start_and_an_estimate_train():
    """Per recipe: whether training reads the start, the seed whose start serves seed 3, and the
    models a start and an estimate train (the engine counts them)."""
    def start(r):
        return r.trains_from_start(), r.start_seed(3), r.start_models(), r.estimate_models()

    assert start(LogisticLbfgsRecipe()) == (True, 0, 1, 0)  # one optimum for every seed, the estimates read it
    assert start(TorchRecipe()) == (False, 3, 1, 0)  # full mode trains from the initialisation
    assert start(TorchRecipe(mode="head")) == (True, 3, 1, 1)  # the estimate trains the baseline head
    assert start(uploaded_head()) == (True, 3, 0, 1)  # uploaded weights: the start trains nothing
    assert LogisticSGDRecipe().estimate_models() == 1
    assert (LogisticSGDRecipe().estimate_method, TorchRecipe().estimate_method) == (
        "influence function", "influence (last layer, damped Hessian)")


def test_the_protocols_are_structural():
    """Any object with the members satisfies a protocol; one without them none."""
    class Measured:
        def training_bytes(self, data) -> int:
            return 7

    class Network:
        mode, device = "head", "cpu"

    assert [isinstance(Measured(), p) for p in PROTOCOLS] == [False, False, False, False, True, False]
    assert [isinstance(Network(), p) for p in PROTOCOLS] == [False, False, False, False, False, True]
    assert not any(isinstance(object(), p) for p in PROTOCOLS)


def test_weight_routing_says_how_upweighting_trains():
    routed = SklearnRecipe(make_pipeline(StandardScaler(), LogisticRegression()))
    assert routed.weights_routed and routed.upweight_note == "upweighting passes sample_weight to every step of the model"
    blind = SklearnRecipe(make_pipeline(StandardScaler(), KNeighborsClassifier()))
    assert not blind.weights_routed
    assert blind.upweight_note == "KNeighborsClassifier takes no sample_weight, so upweighting duplicates the rows instead"


def test_the_budget_asks_the_protocols(credit, tiny_images):
    assert [trained_members(r, 3) for r in (LogisticLbfgsRecipe(), LogisticSGDRecipe(), TorchRecipe())] == [1, 3, 3]
    assert trained_members(SklearnRecipe(LogisticRegression()), 5) == 5
    assert network_training_bytes(credit, LogisticSGDRecipe()) == 0
    full = TorchRecipe(batch_size=4)
    assert network_training_bytes(tiny_images, full) == full.training_bytes(tiny_images) > 0


def test_only_design_recipes_prepare_a_table():
    """The linear recipes build a table's design matrices once per process, before any unit."""
    rng = np.random.default_rng(20)
    frame = pd.DataFrame({"x": rng.normal(size=40), "colour": rng.choice(["red", "blue"], 40), "label": ["a", "b"] * 20})
    data = tabular_dataset(frame[:30], frame[30:], "label", name="fresh")  # no design in this process yet
    sgd, lbfgs, user = LogisticSGDRecipe(), LogisticLbfgsRecipe(), SklearnRecipe(LogisticRegression())
    assert (sgd.prepares(data), lbfgs.prepares(data), user.prepares(data)) == (True, True, False)
    sgd.prepare(data)
    assert has_design(data) and design(data).width == 4  # x, two colours, the bias
    assert (sgd.prepares(data), lbfgs.prepares(data)) == (False, False)


def test_the_engine_refuses_what_a_recipe_lacks(cancer):
    engine = Engine(RunConfig(use_cache=False))
    user = SklearnRecipe(LogisticRegression(), name="mine")
    with pytest.raises(ModelError, match=r"^mine needs no start$"):
        engine.starts(cancer, user, [0])
    tests = np.arange(3)
    with pytest.raises(ModelError, match=r"^the recipe mine cannot estimate effects; run without candidates$"):
        engine.estimate(cancer, user, [0], ACTIONS["remove"], cancer.y_train, tests, np.zeros(3, int), METRICS["loss"])
    assert engine.stats.retrains == 0


#: Where ``getattr(``/``hasattr(`` stays in the engine's recipe layer, and why: a user's
#: estimator, torchvision's constructors and a user's model definition are probed, never a recipe.
ALLOWED_PROBES = {
    "tda_core/recipes/_sklearn_recipe.py": [
        'hasattr(self.estimator, "fit")', 'hasattr(self.estimator, "predict_proba")', 'hasattr(self.final_step, "partial_fit")',
    ],
    "tda_core/recipes/torch/_networks.py": ["getattr(models, name)", 'getattr(module, "build_model", None)'],
}
#: Files that ask recipes through the protocols only. tda_core/_analysis.py joins them once its
#: ``getattr(self.recipe, "weights_routed", True)`` asks :class:`RoutesWeights`.
PROBE_FREE = ["tda_core/_engine.py", "tda_core/limits.py", "tda_core/_ensemble_growth.py", "tda_core/_analysis.py"]


def test_no_attribute_probing_of_recipes():
    probe = re.compile(r"\b(?:getattr|hasattr)\([^()]*(?:\([^()]*\))?[^()]*\)")
    files = PROBE_FREE + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tda_core" / "recipes").rglob("*.py"))
    found = {f: probe.findall((ROOT / f).read_text()) for f in files}
    assert {f: calls for f, calls in found.items() if calls} == ALLOWED_PROBES
