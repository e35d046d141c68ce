"""The engine: members from seeds and checkpoints, cache reuse, results independent of batching."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from tda_core.actions import Edit, make_edit
from tda_core.data import tabular_dataset
from tda_core.engine import Engine, RunConfig
from tda_core.logistic import LogisticSGDRecipe
from tda_core.recipes import paper_sgd


@pytest.fixture(scope="module")
def data():
    raw = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    train, test = train_test_split(raw, train_size=150, test_size=50, random_state=2, stratify=raw["label"])
    return tabular_dataset(train, test, "label")


def test_members_mix_seeds_and_checkpoints(data):
    recipe = paper_sgd()  # checkpoints 30/40/50 of one run per seed
    edits = [Edit.none(), make_edit("remove", [4])]
    got = Engine(RunConfig(ensemble=4, use_cache=False)).predict(data, recipe, edits)
    seed0 = recipe.fit_predict(data, edits, seed=0)
    seed1 = recipe.fit_predict(data, edits, seed=1)
    np.testing.assert_allclose(got[:, :3], seed0, atol=1e-6)  # members 0-2: seed 0 at epochs 30, 40, 50
    np.testing.assert_allclose(got[:, 3], seed1[:, 0], atol=1e-6)  # member 3: seed 1 at epoch 30


def test_results_do_not_depend_on_chunking_or_order(data, tmp_path):
    recipe = LogisticSGDRecipe()
    edits = [make_edit("remove", [i]) for i in range(40)]
    whole = Engine(RunConfig(use_cache=False)).predict(data, recipe, edits)
    small = LogisticSGDRecipe()
    small.chunk_size = 7  # other unit boundaries
    reversed_ = Engine(RunConfig(use_cache=False)).predict(data, small, edits[::-1])[::-1]
    np.testing.assert_allclose(reversed_, whole, atol=1e-12)


def test_second_request_is_served_from_the_cache(data, tmp_path):
    recipe = LogisticSGDRecipe()
    edits = [make_edit("upweight", [i]) for i in range(30)]
    first = Engine(RunConfig(cache_dir=str(tmp_path)))
    a = first.predict(data, recipe, edits)
    second = Engine(RunConfig(cache_dir=str(tmp_path)))
    seen = []
    b = second.predict(data, recipe, edits, progress=seen.append)
    assert first.stats.retrains == 30 * 3 + 3 and second.stats.retrains == 0
    assert second.stats.cache_hits == 30 * 3
    assert seen[-1].done == seen[-1].total == 90 and seen[-1].cached == 90
    np.testing.assert_array_equal(a, b)
