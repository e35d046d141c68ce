"""Rankings of training samples and group effects, from real retraining.

Every number here is a paired difference: member m of a counterfactual minus member m of
the baseline (same seed, same checkpoint), then mean, std (ddof=1) and a one-sample t-test
over the members. See shared/DESIGN.md, "Definitions".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from .candidates import Estimates
from .actions import Edit, check_action, make_edit, relabel_targets
from .data import Dataset
from .engine import Engine, ProgressCallback
from .metrics import accuracy, check_metric, improvement_sign, metric_values
from .models import Recipe


@dataclass(frozen=True)
class Baseline:
    """The unedited ensemble's probabilities on the training and the test rows."""

    proba_train: np.ndarray  # (E, n_train, C)
    proba_test: np.ndarray  # (E, n_test, C)
    relabel_targets: np.ndarray  # (n_train,) the "next most likely class" of each training sample

    @property
    def predicted_test(self) -> np.ndarray:
        return np.argmax(self.proba_test.mean(axis=0), axis=1)

    @property
    def predicted_train(self) -> np.ndarray:
        return np.argmax(self.proba_train.mean(axis=0), axis=1)


def compute_baseline(engine: Engine, data: Dataset, recipe: Recipe, progress: ProgressCallback | None = None) -> Baseline:
    proba = engine.predict(data, recipe, [Edit.none()], eval_on="train+test", progress=progress)[0]
    train, test = proba[:, : data.n_train], proba[:, data.n_train :]
    return Baseline(train, test, relabel_targets(train.mean(axis=0), data.y_train))


def single_edits(action: str, data: Dataset, baseline: Baseline) -> list[Edit]:
    """One edit per training sample: the candidates of a ranking."""
    return [make_edit(action, [i], baseline.relabel_targets) for i in range(data.n_train)]


def paired_stats(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std (ddof=1) and t-test p-value of paired deltas over axis 0 (the members).

    Where all members agree exactly (deterministic training) the t-test is undefined:
    p = 0 if the delta is non-zero, else 1.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    mean = deltas.mean(axis=0)
    std = deltas.std(axis=0, ddof=1) if deltas.shape[0] > 1 else np.zeros_like(mean)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-constant deltas: handled below
        p = stats.ttest_1samp(deltas, 0.0, axis=0).pvalue
    constant = np.all(deltas == deltas[:1], axis=0)
    p = np.where(constant, np.where(mean != 0, 0.0, 1.0), p)
    return mean, std, np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)


@dataclass(frozen=True)
class Ranking:
    """Every training sample scored by retraining, sorted best improvement first."""

    action: str
    metric: str
    test_indices: tuple[int, ...]
    train_index: np.ndarray
    delta_mean: np.ndarray
    delta_std: np.ndarray
    p_value: np.ndarray
    accuracy_delta_mean: np.ndarray
    accuracy_delta_std: np.ndarray
    #: In candidate mode: the estimates that chose which samples were retrained.
    estimates: Estimates | None = None

    @property
    def improvement(self) -> np.ndarray:
        """Positive where the action moves the metric toward fixing the error."""
        return improvement_sign(self.metric) * self.delta_mean

    def significant(self, alpha: float) -> np.ndarray:
        return (self.p_value < alpha) & (self.improvement > 0)

    def select(self, size: int, alpha: float = 0.05) -> tuple[int, ...]:
        """The first ``size`` ranked samples with p < alpha and a positive improvement."""
        return tuple(int(i) for i in self.train_index[self.significant(alpha)][: max(0, int(size))])

    def records(self) -> list[dict]:
        return [
            {
                "train_index": int(i),
                "delta_mean": float(d),
                "delta_std": float(s),
                "p_value": float(p),
                "accuracy_delta_mean": float(a),
            }
            for i, d, s, p, a in zip(self.train_index, self.delta_mean, self.delta_std, self.p_value, self.accuracy_delta_mean)
        ]


def rank(
    data: Dataset,
    baseline: Baseline,
    counterfactual_test_proba: np.ndarray,
    action: str,
    metric: str,
    test_indices: Sequence[int],
    train_indices: Sequence[int] | None = None,
) -> Ranking:
    """Rank training samples from their counterfactual test probabilities (N, E, n_test, C).

    Needs no retraining: the metric, the test samples and the size can change freely.
    """
    check_metric(metric)
    tests = np.asarray(test_indices, dtype=np.int64)
    y_pred = baseline.predicted_test[tests]
    y_true = data.y_test[tests]
    before = metric_values(baseline.proba_test[:, tests], y_true, y_pred, metric).mean(axis=-1)  # (E,)
    after = metric_values(counterfactual_test_proba[:, :, tests], y_true, y_pred, metric).mean(axis=-1)  # (N, E)
    mean, std, p = paired_stats((after - before).T)
    acc_delta = accuracy(counterfactual_test_proba, data.y_test) - accuracy(baseline.proba_test, data.y_test)  # (N, E)
    acc_mean, acc_std, _ = paired_stats(acc_delta.T)
    train = np.arange(len(mean)) if train_indices is None else np.asarray(train_indices, dtype=np.int64)
    improvement = improvement_sign(metric) * mean
    order = np.lexsort((train, -improvement))  # best improvement first, ties by index
    return Ranking(action, metric, tuple(int(t) for t in tests), train[order], mean[order], std[order], p[order], acc_mean[order], acc_std[order])


@dataclass(frozen=True)
class TestEffect:
    """The chosen metric on one test sample, before and after the action (over members)."""

    test_index: int
    before_mean: float
    before_std: float
    after_mean: float
    after_std: float
    delta_mean: float
    delta_std: float


@dataclass(frozen=True)
class Effect:
    """The effect of acting on a whole group of training samples at once, by retraining."""

    action: str
    metric: str
    train_indices: tuple[int, ...]
    test_indices: tuple[int, ...]
    delta_mean: float
    delta_std: float
    p_value: float
    accuracy_before_mean: float
    accuracy_after_mean: float
    accuracy_delta_mean: float
    accuracy_delta_std: float
    per_test: tuple[TestEffect, ...]
    confusion_before: np.ndarray
    confusion_after: np.ndarray

    @property
    def improvement(self) -> float:
        return improvement_sign(self.metric) * self.delta_mean


def effect_from_proba(
    data: Dataset,
    baseline: Baseline,
    after_proba: np.ndarray,
    action: str,
    metric: str,
    train_indices: Sequence[int],
    test_indices: Sequence[int],
) -> Effect:
    """Paired statistics of an edited ensemble's test probabilities ``after_proba`` (E, n_test, C)."""
    from sklearn.metrics import confusion_matrix

    tests = np.asarray(test_indices, dtype=np.int64)
    y_pred = baseline.predicted_test[tests]
    y_true = data.y_test[tests]
    before = metric_values(baseline.proba_test[:, tests], y_true, y_pred, metric)  # (E, t)
    after = metric_values(after_proba[:, tests], y_true, y_pred, metric)
    mean, std, p = paired_stats((after - before).mean(axis=1)[:, None])
    t_mean, t_std, _ = paired_stats(after - before)
    acc_before = accuracy(baseline.proba_test, data.y_test)
    acc_after = accuracy(after_proba, data.y_test)
    a_mean, a_std, _ = paired_stats((acc_after - acc_before)[:, None])
    labels = np.arange(data.n_classes)
    per_test = tuple(
        TestEffect(int(t), float(before[:, j].mean()), float(before[:, j].std(ddof=1)), float(after[:, j].mean()),
                   float(after[:, j].std(ddof=1)), float(t_mean[j]), float(t_std[j]))
        for j, t in enumerate(tests)
    )
    return Effect(
        action=action,
        metric=metric,
        train_indices=tuple(int(i) for i in train_indices),
        test_indices=tuple(int(t) for t in tests),
        delta_mean=float(mean[0]),
        delta_std=float(std[0]),
        p_value=float(p[0]),
        accuracy_before_mean=float(acc_before.mean()),
        accuracy_after_mean=float(acc_after.mean()),
        accuracy_delta_mean=float(a_mean[0]),
        accuracy_delta_std=float(a_std[0]),
        per_test=per_test,
        confusion_before=confusion_matrix(data.y_test, baseline.predicted_test, labels=labels),
        confusion_after=confusion_matrix(data.y_test, np.argmax(after_proba.mean(axis=0), axis=1), labels=labels),
    )


def group_effect(
    engine: Engine,
    data: Dataset,
    recipe: Recipe,
    baseline: Baseline,
    action: str,
    metric: str,
    train_indices: Sequence[int],
    test_indices: Sequence[int],
    progress: ProgressCallback | None = None,
) -> Effect:
    """Retrain with the action applied to all of ``train_indices`` at once and measure it."""
    check_action(action)
    edit = make_edit(action, sorted(int(i) for i in train_indices), baseline.relabel_targets)
    after = engine.predict(data, recipe, [edit], progress=progress)[0]
    return effect_from_proba(data, baseline, after, action, metric, edit.indices, test_indices)
