"""Similar training samples: the nearest training rows to the chosen errors in the model's
representation, beside their measured effects. For ``add``, the nearest *pool* samples, beside
their measured effect of being added.

"Similar" is what embedding tools show; "influential" is what retraining measures. Putting the
two side by side shows when they disagree. Distances are Euclidean in the representation of
:meth:`Analysis.representation`, standardised per feature on the training rows (as candidate
groups are, :func:`tda_core._training_groups.standardised`); a training sample's distance is the
one to the nearest chosen error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ._actions import POOL, TRAINING, Subject
from ._attribution import Ranking, json_number
from ._exceptions import UsageError
from ._training_groups import nearest_distance, standardised

if TYPE_CHECKING:
    from ._analysis import Analysis, Attribution

DEFAULT_K = 10


@dataclass(frozen=True)
class SimilarSamples:
    """The ``k`` training samples nearest the chosen errors, nearest first.

    ``delta_mean`` and ``p_value`` are the ranking's measured effect of each, None where the
    ranking does not hold the sample (candidate mode) or no ranking was given. ``spearman`` is
    the rank correlation between similarity (nearer ranks first) and effect (more improvement
    ranks first) over every training sample the ranking holds: positive when the most similar
    samples are also the most influential, near 0 or negative when they disagree."""

    test_indices: tuple[int, ...]
    indices: tuple[int, ...]  # among ``subject``'s samples: pool indices for the pool
    labels: tuple[str, ...]
    distance: tuple[float, ...]
    delta_mean: tuple[float | None, ...]
    p_value: tuple[float | None, ...]
    spearman: float | None
    subject: Subject = TRAINING

    def records(self) -> list[dict[str, Any]]:
        return [
            {self.subject.index_key: i, "label": label, "distance": d, "delta_mean": m, "p_value": p}
            for i, label, d, m, p in zip(self.indices, self.labels, self.distance, self.delta_mean, self.p_value)
        ]


def distances(
    F_train: np.ndarray, F_test: np.ndarray, test_indices: Sequence[int], F_candidates: np.ndarray | None = None
) -> np.ndarray:
    """Each training sample's (or each of ``F_candidates``': pool samples) distance to the
    nearest chosen test sample, in features standardised on the training rows."""
    Z_train, Z_test = standardised(F_train, F_test)
    Z = Z_train if F_candidates is None else standardised(F_train, F_candidates)[1]
    chosen = Z_test[np.asarray(test_indices, dtype=np.int64)]
    return nearest_distance(Z, chosen)


def similarity_spearman(distance: np.ndarray, ranking: Ranking) -> float | None:
    """Spearman correlation of closeness and improvement over the samples the ranking holds."""
    if len(ranking.index) < 3:
        return None
    closeness = -np.asarray(distance)[ranking.index]
    if np.ptp(closeness) == 0 or np.ptp(ranking.improvement) == 0:
        return None
    return json_number(float(stats.spearmanr(closeness, ranking.improvement).statistic))


def similar_samples(
    analysis: Analysis, test_indices: Sequence[int], k: int = DEFAULT_K, ranking: Ranking | None = None,
    among: Subject | str = TRAINING,
) -> SimilarSamples:
    """The ``k`` training samples (``among`` the pool: pool samples; ``"train"`` or ``"pool"`` name
    them too) nearest the chosen errors, with their effects from ``ranking`` (which must rank the
    same samples)."""
    subjects = {s.name: s for s in (TRAINING, POOL)}
    if not isinstance(among, Subject):
        if among not in subjects:
            raise UsageError(f"similar samples are among 'train' or 'pool', not {among!r}")
        among = subjects[among]
    if ranking is not None and ranking.subject != among:
        raise UsageError(f"a ranking of {ranking.subject.noun}s cannot show effects of {among.noun}s")
    tests = tuple(int(t) for t in test_indices)
    if not tests:
        raise UsageError("choose at least one test sample to find similar training samples")
    if int(k) < 1:
        raise UsageError(f"the number of similar samples must be at least 1, not {k}")
    data = analysis.data
    bad = [t for t in tests if not 0 <= t < data.n_test]
    if bad:
        raise UsageError(f"test sample {bad[0]} does not exist: the test set has {data.n_test} rows")
    F_train, F_test = analysis.representation()
    if among is POOL and not data.has_pool:
        raise UsageError("there is no pool to find similar samples in")
    distance = distances(F_train, F_test, tests, analysis.pool_representation() if among is POOL else None)
    y_candidates = among.labels(data)
    order = np.lexsort((np.arange(len(distance)), distance))[: int(k)]  # nearest first, ties by index
    effects: dict[int, tuple[float, float | None]] = {}
    if ranking is not None:
        effects = {int(i): (float(d), json_number(p)) for i, d, p in zip(ranking.index, ranking.delta_mean, ranking.p_value)}
    delta = tuple(effects[int(i)][0] if int(i) in effects else None for i in order)
    p_value = tuple(effects[int(i)][1] if int(i) in effects else None for i in order)
    return SimilarSamples(
        tests,
        tuple(int(i) for i in order),
        tuple(data.classes[int(y_candidates[i])] for i in order),
        tuple(float(distance[i]) for i in order),
        delta,
        p_value,
        None if ranking is None else similarity_spearman(distance, ranking),
        among,
    )


def similar_to_errors(analysis: Analysis, result: Attribution, k: int = DEFAULT_K) -> SimilarSamples | None:
    """The samples nearest ``result``'s errors beside its ranking of single samples (pool samples
    beside add's): None for candidate groups, or for a model without a representation."""
    from ._exceptions import ModelError

    ranking = result.ranking
    if not isinstance(ranking, Ranking):
        return None
    try:
        return similar_samples(analysis, result.group.test_indices, k, ranking=ranking, among=ranking.subject)
    except ModelError:  # nothing to be similar in
        return None
