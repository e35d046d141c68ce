"""Candidate training groups: attribution at the level where the data speaks above training noise.

Single training samples rarely move a network beyond its training noise. Groups do: the training
samples nearest the chosen errors in the model's representation, per class, cut into groups of
the chosen size (``neighbours``), and clusters of the training set (``cluster``: the samples
nearest each k-means centre). Each group is retrained as a whole, with paired members, and the
groups are ranked by effect like single samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._actions import TRAINING, Action, Subject
from ._attribution import Baseline, Scored, json_number, metric_before_after
from ._metrics import Metric, accuracy
from ._stats import paired_stats, reliability
from .data._dataset import Dataset
from .recipes._design import dense

#: Neighbour groups per class: the nearest ``size``, the next ``size``, ...
GROUPS_PER_CLASS = 2
#: At most this many clusters of the training set.
MAX_CLUSTERS = 20


@dataclass(frozen=True)
class CandidateGroup:
    """A candidate group of training samples, and how it was formed."""

    group_id: str
    kind: str  # "neighbours" | "cluster"
    train_indices: tuple[int, ...]
    description: str


#: Bytes of the differences :func:`nearest_distance` computes at once.
DISTANCE_BLOCK_BYTES = 64 * 2**20


def nearest_distance(Z: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Each row of ``Z``'s Euclidean distance to its nearest row of ``chosen``. The nearest is
    found by BLAS (scikit-learn's chunked ``|a|^2 + |b|^2 - 2ab``: census income's 199,523 rows
    against 3,803 errors in seconds, where exact differences of every pair took ten minutes), then
    its distance is taken again from exact differences, one pair per row (no cancellation: a row
    equal to a chosen one is at 0)."""
    from sklearn.metrics import pairwise_distances_argmin_min

    if len(Z) == 0:
        return np.zeros(0)
    nearest, _ = pairwise_distances_argmin_min(Z, chosen)
    rows = max(1, DISTANCE_BLOCK_BYTES // max(1, 8 * Z.shape[1]))
    blocks = [np.sqrt(((Z[i : i + rows] - chosen[nearest[i : i + rows]]) ** 2).sum(axis=1)) for i in range(0, len(Z), rows)]
    return np.concatenate(blocks)


def column_scale(F: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation (1 where it is constant) of dense or sparse rows,
    without a dense copy of a sparse matrix (census income's 199,523 x 400 one-hot: 640 MB)."""
    if sp.issparse(F):
        mean = np.asarray(F.mean(axis=0), np.float64).ravel()
        var = np.asarray(F.multiply(F).mean(axis=0), np.float64).ravel() - mean**2
        std = np.sqrt(np.maximum(var, 0.0))
    else:
        F = np.asarray(F, np.float64)
        mean, std = F.mean(axis=0), F.std(axis=0)
    return mean, np.where(std > 1e-12, std, 1.0)


def standardised(F_train: Any, F_test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both row sets standardised per column on the training rows (dense; either may be sparse)."""
    mean, std = column_scale(F_train)
    return (dense(F_train).astype(np.float64) - mean) / std, (dense(F_test).astype(np.float64) - mean) / std


def candidate_groups(
    F_train: np.ndarray,
    F_test: np.ndarray,
    y_train: np.ndarray,
    classes: Sequence[str],
    test_indices: Sequence[int],
    size: int,
    seed: int = 0,
) -> list[CandidateGroup]:
    """Neighbour groups of the chosen test samples (per class) and cluster groups, deduplicated."""
    from sklearn.cluster import KMeans

    size = max(1, int(size))
    Z_train, Z_test = standardised(F_train, F_test)
    chosen = Z_test[np.asarray(test_indices, dtype=np.int64)]
    # Distance to the nearest chosen error: a group near any of them is a candidate.
    distance = nearest_distance(Z_train, chosen)
    groups: list[CandidateGroup] = []
    for c, name in enumerate(classes):
        members = np.flatnonzero(y_train == c)
        members = members[np.lexsort((members, distance[members]))]
        for part in range(GROUPS_PER_CLASS):
            chunk = members[part * size : (part + 1) * size]
            if len(chunk):
                groups.append(CandidateGroup(
                    f"near-{name}-{part + 1}", "neighbours", tuple(sorted(int(i) for i in chunk)),
                    f"class {name}: training samples {part * size + 1}-{part * size + len(chunk)} nearest the chosen errors",
                ))
    n_clusters = int(min(MAX_CLUSTERS, max(2, len(Z_train) // (2 * size))))
    if len(Z_train) > n_clusters:
        kmeans = KMeans(n_clusters=n_clusters, random_state=seed, n_init=3).fit(Z_train)
        for k in range(n_clusters):
            members = np.flatnonzero(kmeans.labels_ == k)
            if not len(members):
                continue
            to_centre = np.linalg.norm(Z_train[members] - kmeans.cluster_centers_[k], axis=1)
            chunk = members[np.lexsort((members, to_centre))][:size]
            counts = np.bincount(y_train[members], minlength=len(classes))
            groups.append(CandidateGroup(
                f"cluster-{k + 1}", "cluster", tuple(sorted(int(i) for i in chunk)),
                f"cluster {k + 1} of {n_clusters} ({len(members)} samples, mostly class {classes[int(np.argmax(counts))]}): "
                f"the {len(chunk)} nearest its centre",
            ))
    unique: dict[tuple[int, ...], CandidateGroup] = {}
    for group in groups:
        unique.setdefault(group.train_indices, group)
    return list(unique.values())


@dataclass(frozen=True)
class GroupRanking(Scored):
    """Candidate groups ranked by the effect of acting on each group as a whole, best first."""

    action: str
    metric: str
    test_indices: tuple[int, ...]
    groups: tuple[CandidateGroup, ...]
    delta_mean: np.ndarray
    delta_std: np.ndarray
    p_value: np.ndarray
    accuracy_delta_mean: np.ndarray
    reliability: float | None
    deterministic: bool

    @property
    def subject(self) -> Subject:
        """Candidate groups are always of training samples."""
        return TRAINING

    def best(self, alpha: float = 0.05) -> CandidateGroup | None:
        """The best significant, improving group, or None."""
        hits = np.flatnonzero(self.significant(alpha))
        return self.groups[int(hits[0])] if len(hits) else None

    def records(self) -> list[dict]:
        return [
            {
                "group_id": g.group_id,
                "kind": g.kind,
                "description": g.description,
                TRAINING.indices_key: list(g.train_indices),
                "delta_mean": float(d),
                "delta_std": float(s),
                "p_value": json_number(p),
                "accuracy_delta_mean": float(a),
            }
            for g, d, s, p, a in zip(self.groups, self.delta_mean, self.delta_std, self.p_value, self.accuracy_delta_mean)
        ]


def rank_groups(
    data: Dataset,
    baseline: Baseline,
    proba: np.ndarray,
    groups: Sequence[CandidateGroup],
    action: Action,
    metric: Metric,
    test_indices: Sequence[int],
) -> GroupRanking:
    """Rank candidate groups from the test probabilities of each group's edit (G, E, n_test, C)."""
    tests = np.asarray(test_indices, dtype=np.int64)
    before, after = metric_before_after(data, baseline, proba, metric, tests)
    deltas = (after.mean(axis=-1) - before.mean(axis=-1)).T  # (E, G)
    runs, det = baseline.runs, baseline.deterministic
    delta = paired_stats(deltas, runs, det)
    acc = paired_stats((accuracy(proba, data.y_test) - accuracy(baseline.proba_test, data.y_test)).T, runs, det)
    order = np.lexsort((np.arange(len(groups)), -metric.sign * delta.mean))
    return GroupRanking(
        action.name, metric.name, tuple(int(t) for t in tests), tuple(groups[i] for i in order),
        delta.mean[order], delta.std[order], delta.p_value[order], acc.mean[order],
        reliability(deltas, runs, det), det,
    )
