"""Compare actions side by side: every action at each group size, measured as a group effect.

For one error group and one metric, each (action, size) setting takes the ranking's selection
(the first ``size`` significant, improving samples; when none is significant, the top ``size`` by
improvement, said in a ``note``) and retrains with the action applied to all of them at once
(:meth:`Analysis.effect`). The best setting is the one with the highest net benefit (errors fixed
minus errors created), ties broken by the global accuracy delta, then by the improvement of the
metric. Rankings and effects are cached by the analysis, so changing the sizes is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._actions import available_actions, get_action
from ._attribution import Effect, json_number
from ._errors import ErrorGroup
from ._exceptions import UsageError
from ._metrics import get_metric
from ._request import check_alpha

if TYPE_CHECKING:
    from ._analysis import Analysis
    from ._engine import ProgressCallback

DEFAULT_SIZES = (1, 5, 10)


@dataclass(frozen=True)
class Setting:
    """One (action, size) setting and its measured group effect."""

    action: str
    size: int
    effect: Effect
    #: Said when the selection is not the ``size`` significant improving samples asked for.
    note: str | None = None

    @property
    def indices(self) -> tuple[int, ...]:
        """The samples acted on (pool samples for add: ``effect.subject`` says which)."""
        return self.effect.indices

    def sort_key(self) -> tuple[int, float, float]:
        """Higher is better: net benefit, then the accuracy delta, then the improvement."""
        return (self.effect.net_benefit, self.effect.accuracy_delta_mean, self.effect.improvement)

    def to_json(self) -> dict[str, Any]:
        e = self.effect
        doc = {
            "action": self.action,
            "size": self.size,
            e.subject.indices_key: list(e.indices),
            "delta_mean": e.delta_mean,
            "delta_std": e.delta_std,
            "p_value": json_number(e.p_value),
            "errors_fixed": e.errors_fixed,
            "errors_new": e.errors_new,
            "net_benefit": e.net_benefit,
            "accuracy_delta_mean": e.accuracy_delta_mean,
            "accuracy_delta_std": e.accuracy_delta_std,
            "class_accuracy_delta": dict(e.class_accuracy_delta),
        }
        if self.note:
            doc["note"] = self.note
        return doc


@dataclass(frozen=True)
class Comparison:
    """Every action at every size for one error group and metric, and the best of them."""

    group: ErrorGroup
    metric: str
    alpha: float
    sizes: tuple[int, ...]
    settings: tuple[Setting, ...]
    best: Setting | None
    #: The reliability of each action's single-sample ranking (None with a single run).
    reliability: dict[str, float | None]
    deterministic: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "group": {"true": self.group.true, "pred": self.group.pred, "test_indices": list(self.group.test_indices)},
            "metric": self.metric,
            "alpha": self.alpha,
            "sizes": list(self.sizes),
            "settings": [s.to_json() for s in self.settings],
            "best": None if self.best is None else {"action": self.best.action, "size": self.best.size},
            "reliability": dict(self.reliability),
            "deterministic": self.deterministic,
        }


def best_setting(settings: Sequence[Setting]) -> Setting | None:
    """The highest net benefit; ties by accuracy delta, then improvement; then the first listed."""
    best: Setting | None = None
    for setting in settings:
        if best is None or setting.sort_key() > best.sort_key():
            best = setting
    return best


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(dict.fromkeys(int(s) for s in sizes))
    if not sizes:
        raise UsageError("give at least one group size to compare")
    bad = [s for s in sizes if s < 1]
    if bad:
        raise UsageError(f"every group size must be at least 1, not {bad[0]}")
    return sizes


def compare(
    analysis: Analysis,
    group: ErrorGroup,
    metric: str,
    sizes: Sequence[int] = DEFAULT_SIZES,
    alpha: float = 0.05,
    actions: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> Comparison:
    """Measure every action (default: all of them, add where the data has a pool) at each size
    as a group effect."""
    sizes = check_sizes(sizes)
    alpha = check_alpha(alpha)
    metric_obj = get_metric(metric)
    names = [get_action(a).name for a in (actions if actions is not None else available_actions(analysis.data.has_pool))]
    settings: list[Setting] = []
    reliability: dict[str, float | None] = {}
    deterministic = analysis.baseline.deterministic
    for name in names:
        ranking = analysis.ranking(group, name, metric_obj, progress)
        reliability[name] = ranking.reliability
        noun = ranking.subject.noun
        for size in sizes:
            selected = ranking.select(size, alpha)
            note = None
            if not selected:
                selected = tuple(int(i) for i in ranking.index[:size])
                what = "improving" if deterministic else f"significant at alpha={alpha}"
                note = f"no {noun} is {what}: the top {len(selected)} by improvement were used"
            elif len(selected) < size:
                what = "improve" if deterministic else f"are significant and improving at alpha={alpha}"
                note = f"only {len(selected)} {noun}s {what}"
            effect = analysis.effect(group, name, metric_obj, selected, progress)
            settings.append(Setting(name, size, effect, note))
    return Comparison(
        group, metric_obj.name, float(alpha), sizes, tuple(settings), best_setting(settings), reliability, deterministic
    )
