"""A planted missing region (see planted_region.py): ``add`` finds the lacking data by retraining,
among random distractors and among hard ones (the other classes' rows nearest the region)."""

from __future__ import annotations

import numpy as np
import pytest
from planted_region import CLASS, planted_region_digits

from tda_core import Analysis, RunConfig
from tda_core.recipes._registry import default_recipe


@pytest.mark.parametrize("distractors", ["random", "near"])
def test_add_finds_the_missing_region(distractors):
    planted = planted_region_digits(distractors=distractors)
    data = planted.data
    # The region's training samples are absent from training and all in the pool.
    assert not planted.region_ids & {int(i) for i in data.train_ids}
    assert {int(data.pool_ids[i]) for i in planted.region_pool} == planted.region_ids
    assert data.n_pool - len(planted.region_pool) >= len(planted.region_pool)  # at least as many distractors
    if distractors == "near":  # hard distractors: none is a "1"
        one = data.classes.index(CLASS)
        assert all(data.y_pool[i] != one for i in range(data.n_pool) if i not in planted.region_pool)

    analysis = Analysis(data, default_recipe(data), RunConfig(ensemble=3))
    candidates = [g for g in analysis.errors.groups if g.true == CLASS and set(g.test_indices) & set(planted.region_test)]
    assert candidates, "no test '1' inside the region is misclassified: nothing to plant"
    group = max(candidates, key=lambda g: len(set(g.test_indices) & set(planted.region_test)))
    group = group.narrowed([t for t in group.test_indices if t in planted.region_test])

    result = analysis.attribute(group, "add", "loss", size=10)
    top10 = [int(i) for i in result.ranking.index[:10]]  # pool indices for add
    precision = len(set(top10) & planted.region_pool) / 10
    assert precision >= 0.6, (precision, top10)
    assert result.effect is not None and result.effect.errors_fixed > 0
    assert result.effect.p_value < 0.05
    assert np.all(np.asarray(result.selected) < data.n_pool)

    # The same ranking again, from the cache: nothing is retrained.
    again = Analysis(data, default_recipe(data), RunConfig(ensemble=3))
    repeat = again.attribute(group, "add", "loss", size=10)
    assert again.engine.stats.retrains == 0
    assert [int(i) for i in repeat.ranking.index[:10]] == top10
