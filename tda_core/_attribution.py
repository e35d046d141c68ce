"""Rankings of training samples (or candidate groups) and group effects, from real retraining.

Every number here is a paired difference: member m of a counterfactual minus member m of the
baseline (same seed, same checkpoint), then the statistics of :mod:`tda_core._stats`. See
shared/DESIGN.md, "Definitions".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix

from ._actions import Action, Subject, get_action, relabel_targets
from ._counterfactuals import Counterfactuals
from ._metrics import Metric, accuracy, get_metric
from ._stats import paired_stats, reliability
from .data._dataset import Dataset
from .estimates._candidates import Estimates
from .recipes._base import Member


def json_number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


@dataclass(frozen=True)
class Baseline:
    """The unedited ensemble on the training and the test rows, and how its members relate."""

    proba_train: np.ndarray  # (E, n_train, C)
    proba_test: np.ndarray  # (E, n_test, C)
    relabel_targets: np.ndarray  # (n_train,) the "next most likely class" of each training sample
    members: tuple[Member, ...]
    #: Every member gave the same probabilities: the model ignores the seed, effects are exact.
    deterministic: bool

    @property
    def runs(self) -> np.ndarray:
        """The run (seed) of each member: members of one run are not independent."""
        return np.array([m.seed for m in self.members])

    @property
    def independent_runs(self) -> int:
        return 1 if self.deterministic else len(set(self.runs.tolist()))

    @property
    def predicted_test(self) -> np.ndarray:
        return np.argmax(self.proba_test.mean(axis=0), axis=1)

    @property
    def predicted_train(self) -> np.ndarray:
        return np.argmax(self.proba_train.mean(axis=0), axis=1)


def make_baseline(data: Dataset, proba: np.ndarray, members: Sequence[Member]) -> Baseline:
    """The baseline from the unedited ensemble's probabilities on train+test rows (E, n, C).

    The model is deterministic when at least two independent members gave identical
    probabilities everywhere; it is then kept as one member."""
    proba = np.asarray(proba)
    members = tuple(members)
    seeds = [m.seed for m in members]
    deterministic = len(set(seeds)) > 1 and all(np.array_equal(proba[0], p) for p in proba[1:])
    if deterministic:
        proba, members = proba[:1], members[:1]
    train, test = proba[:, : data.n_train], proba[:, data.n_train :]
    return Baseline(train, test, relabel_targets(train.mean(axis=0), data.y_train), members, deterministic)


def metric_before_after(
    data: Dataset, baseline: Baseline, after: np.ndarray, metric: Metric, tests: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The metric on the chosen test samples before (E, t) and after (..., E, t)."""
    y_pred = baseline.predicted_test[tests]
    y_true = data.y_test[tests]
    before = metric.values(baseline.proba_test[:, tests], y_true, y_pred)
    return before, metric.values(after[..., tests, :], y_true, y_pred)


class Scored:
    """What a ranking of samples or of groups shares: the direction of improvement and the
    rule of significance (needs ``metric``, ``delta_mean``, ``p_value`` and ``deterministic``)."""

    metric: str
    delta_mean: np.ndarray
    p_value: np.ndarray
    deterministic: bool

    @property
    def improvement(self) -> np.ndarray:
        """Positive where the action moves the metric toward fixing the error."""
        return get_metric(self.metric).sign * self.delta_mean

    def significant(self, alpha: float) -> np.ndarray:
        """Improving, and significant at ``alpha`` (deterministic models need no p-value)."""
        if self.deterministic:
            return self.improvement > 0
        with np.errstate(invalid="ignore"):
            return (self.p_value < alpha) & (self.improvement > 0)


@dataclass(frozen=True)
class Ranking(Scored):
    """Every scored sample, sorted best improvement first: training samples, or pool samples for
    add (``subject`` says which ``index`` numbers).

    ``p_value`` is NaN where it does not apply (a deterministic model, or a single run).
    ``reliability`` is the expected Spearman correlation with the ranking of an independent
    ensemble of the same size (None with a single run)."""

    action: str
    metric: str
    test_indices: tuple[int, ...]
    #: The ranked samples' indices among ``subject``'s samples, best first.
    index: np.ndarray
    delta_mean: np.ndarray
    delta_std: np.ndarray
    p_value: np.ndarray
    accuracy_delta_mean: np.ndarray
    accuracy_delta_std: np.ndarray
    reliability: float | None
    deterministic: bool
    #: In candidate mode: the estimates that chose which samples were retrained.
    estimates: Estimates | None = None

    @property
    def subject(self) -> Subject:
        """What ``index`` numbers: training samples, or pool samples (add)."""
        return get_action(self.action).subject

    def select(self, size: int, alpha: float = 0.05) -> tuple[int, ...]:
        """The first ``size`` ranked samples that are significant and improving."""
        return tuple(int(i) for i in self.index[self.significant(alpha)][: max(0, int(size))])

    def records(self) -> list[dict]:
        return [
            {
                self.subject.index_key: int(i),
                "delta_mean": float(d),
                "delta_std": float(s),
                "p_value": json_number(p),
                "accuracy_delta_mean": float(a),
            }
            for i, d, s, p, a in zip(self.index, self.delta_mean, self.delta_std, self.p_value, self.accuracy_delta_mean)
        ]


def rank(
    data: Dataset,
    baseline: Baseline,
    counterfactuals: Counterfactuals,
    action: Action,
    metric: Metric,
    test_indices: Sequence[int],
    indices: Sequence[int] | None = None,
) -> Ranking:
    """Rank samples (training samples, or pool samples for add; ``indices``: those edited, default
    all) from what their counterfactual models kept
    (:class:`~tda_core._counterfactuals.Counterfactuals`, N edits x E members).

    Needs no retraining: the metric, the size and any test samples among the kept rows can
    change freely.
    """
    tests = np.asarray(test_indices, dtype=np.int64)
    y_pred, y_true = baseline.predicted_test[tests], data.y_test[tests]
    before = metric.values(baseline.proba_test[:, tests], y_true, y_pred)
    after = metric.values(counterfactuals.at(tests), y_true, y_pred)
    deltas = (after.mean(axis=-1) - before.mean(axis=-1)).T  # (E, N)
    runs, det = baseline.runs, baseline.deterministic
    delta = paired_stats(deltas, runs, det)
    acc_delta = (counterfactuals.accuracy - accuracy(baseline.proba_test, data.y_test)).T
    acc = paired_stats(acc_delta, runs, det)
    edited = np.arange(len(delta.mean)) if indices is None else np.asarray(indices, dtype=np.int64)
    order = np.lexsort((edited, -metric.sign * delta.mean))  # best improvement first, ties by index
    return Ranking(
        action.name, metric.name, tuple(int(t) for t in tests), edited[order], delta.mean[order], delta.std[order],
        delta.p_value[order], acc.mean[order], acc.std[order], reliability(deltas, runs, det), det,
    )


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
    """The effect of acting on a whole group of samples at once, by retraining: training samples,
    or pool samples for add (``subject`` says which ``indices`` number)."""

    action: str
    metric: str
    indices: tuple[int, ...]
    test_indices: tuple[int, ...]
    delta_mean: float
    delta_std: float
    #: NaN where no p-value applies (a deterministic model, or a single run), as in :class:`Ranking`.
    p_value: float
    deterministic: bool
    #: The accuracy of the ensemble's mean prediction before and after (the prediction the error
    #: counts use, so ``accuracy_after - accuracy_before`` is the net change of correct test rows).
    accuracy_before: float
    accuracy_after: float
    #: The mean of the members' own accuracies before and after (the paired test's terms).
    accuracy_before_mean: float
    accuracy_after_mean: float
    accuracy_delta_mean: float
    accuracy_delta_std: float
    #: On the ensemble's mean prediction: chosen test samples that become correct, and test
    #: samples anywhere that were correct and become wrong.
    errors_fixed: int
    errors_new: int
    class_accuracy_delta: dict[str, float]
    per_test: tuple[TestEffect, ...]
    confusion_before: np.ndarray
    confusion_after: np.ndarray
    #: (n_test,) class codes of the ensemble's mean prediction before and after.
    predicted_before: np.ndarray | None = None
    predicted_after: np.ndarray | None = None

    def cell_moves(self, y_test: np.ndarray, true_code: int, pred_code: int) -> tuple[int, int]:
        """Test samples that left the confusion cell (true, pred) and that entered it with the edit:
        ``confusion_after[t, p] == confusion_before[t, p] - left + entered``. A chosen error that is
        fixed leaves it; another sample of that class newly predicted as ``pred`` enters it."""
        if self.predicted_before is None or self.predicted_after is None:
            raise ValueError("this effect keeps no predictions")
        in_class = np.asarray(y_test) == true_code
        before, after = self.predicted_before == pred_code, self.predicted_after == pred_code
        return int(np.sum(in_class & before & ~after)), int(np.sum(in_class & ~before & after))

    @property
    def subject(self) -> Subject:
        """What ``indices`` number: training samples, or pool samples (add)."""
        return get_action(self.action).subject

    @property
    def improvement(self) -> float:
        return get_metric(self.metric).sign * self.delta_mean

    @property
    def accuracy_change(self) -> float:
        """The change of the ensemble's accuracy (``accuracy_after - accuracy_before``): the one
        shown, beside the members' paired spread ``accuracy_delta_std``."""
        return self.accuracy_after - self.accuracy_before

    @property
    def net_benefit(self) -> int:
        """Errors fixed minus errors created (ties are broken by the accuracy delta)."""
        return self.errors_fixed - self.errors_new

    def to_json(self) -> dict:
        return {
            self.subject.indices_key: list(self.indices),
            "delta_mean": self.delta_mean,
            "delta_std": self.delta_std,
            "p_value": json_number(self.p_value),
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "accuracy_delta_mean": self.accuracy_delta_mean,
            "accuracy_delta_std": self.accuracy_delta_std,
            "errors_fixed": self.errors_fixed,
            "errors_new": self.errors_new,
            "net_benefit": self.net_benefit,
            "class_accuracy_delta": self.class_accuracy_delta,
            "per_test": [
                {"test_index": t.test_index, "before_mean": t.before_mean, "after_mean": t.after_mean,
                 "delta_mean": t.delta_mean, "delta_std": t.delta_std}
                for t in self.per_test
            ],
        }


def _class_accuracy(predicted: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.array([(predicted[y == c] == c).mean() if np.any(y == c) else np.nan for c in range(n_classes)])


def effect_from_proba(
    data: Dataset,
    baseline: Baseline,
    after_proba: np.ndarray,
    action: Action,
    metric: Metric,
    indices: Sequence[int],
    test_indices: Sequence[int],
) -> Effect:
    """Paired statistics of an edited ensemble's test probabilities ``after_proba`` (E, n_test, C)."""
    tests = np.asarray(test_indices, dtype=np.int64)
    runs, det = baseline.runs, baseline.deterministic
    before, after = metric_before_after(data, baseline, after_proba, metric, tests)  # (E, t) each
    overall = paired_stats((after - before).mean(axis=1), runs, det)
    per_sample = paired_stats(after - before, runs, det)
    acc_before = accuracy(baseline.proba_test, data.y_test)
    acc_after = accuracy(after_proba, data.y_test)
    acc = paired_stats(acc_after - acc_before, runs, det)
    spread = 1 if len(before) > 1 else 0  # ddof for a spread over members
    per_test = tuple(
        TestEffect(
            int(t), float(before[:, j].mean()), float(before[:, j].std(ddof=spread)), float(after[:, j].mean()),
            float(after[:, j].std(ddof=spread)), float(per_sample.mean[j]), float(np.nan_to_num(per_sample.std[j])),
        )
        for j, t in enumerate(tests)
    )
    predicted_before = baseline.predicted_test
    predicted_after = np.argmax(after_proba.mean(axis=0), axis=1)
    correct_before = predicted_before == data.y_test
    correct_after = predicted_after == data.y_test
    class_delta = _class_accuracy(predicted_after, data.y_test, data.n_classes) - _class_accuracy(
        predicted_before, data.y_test, data.n_classes
    )
    labels = np.arange(data.n_classes)
    return Effect(
        action=action.name,
        metric=metric.name,
        indices=tuple(int(i) for i in indices),
        test_indices=tuple(int(t) for t in tests),
        delta_mean=float(overall.mean),
        delta_std=float(np.nan_to_num(overall.std)),
        p_value=float(overall.p_value),
        deterministic=det,
        accuracy_before=float(correct_before.mean()),
        accuracy_after=float(correct_after.mean()),
        accuracy_before_mean=float(acc_before.mean()),
        accuracy_after_mean=float(acc_after.mean()),
        accuracy_delta_mean=float(acc.mean),
        accuracy_delta_std=float(np.nan_to_num(acc.std)),
        errors_fixed=int(np.sum(correct_after[tests] & ~correct_before[tests])),
        errors_new=int(np.sum(correct_before & ~correct_after)),
        class_accuracy_delta={data.classes[c]: float(d) for c, d in enumerate(class_delta) if np.isfinite(d)},
        per_test=per_test,
        confusion_before=confusion_matrix(data.y_test, predicted_before, labels=labels),
        confusion_after=confusion_matrix(data.y_test, predicted_after, labels=labels),
        predicted_before=predicted_before,
        predicted_after=predicted_after,
    )
