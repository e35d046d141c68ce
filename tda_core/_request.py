"""What the user asks of an attribution, validated once, here.

The command line, the pages and the Python API all build a :class:`Request`; the run itself
(ensemble, seeds, workers, memory budget) is a :class:`tda_core._engine.RunConfig`, validated when
it is made. Nothing downstream checks these numbers again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._actions import Action, get_action
from ._exceptions import UsageError
from ._metrics import Metric, get_metric

#: What a ranking ranks: single samples, or candidate groups of ``size`` training samples.
UNITS = ("sample", "group")


def check_alpha(alpha: float) -> float:
    """The significance level as a float in (0, 1), or one clear error."""
    try:
        value = float(alpha)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the significance level alpha must be a number between 0 and 1, not {alpha!r}") from exc
    if not 0 < value < 1:
        raise UsageError(f"the significance level alpha must lie between 0 and 1, not {alpha}")
    return value


def check_numbers(size: int, alpha: float, unit: str) -> tuple[int, float]:
    """The group size as an int of at least 1, alpha as a float in (0, 1) and a known unit, or one
    clear error: a :class:`Request`'s checks, for callers that have no action yet."""
    if isinstance(size, bool) or not isinstance(size, int | float) or int(size) != size:
        raise UsageError(f"the group size must be a whole number, not {size!r}")
    if int(size) < 1:
        raise UsageError(f"the group size must be at least 1, not {size}")
    alpha = check_alpha(alpha)
    if unit not in UNITS:
        raise UsageError(f"unknown unit {unit!r}: choose sample or group")
    return int(size), alpha


@dataclass(frozen=True)
class Request:
    """An attribution request: act with ``action`` on up to ``size`` samples (or a candidate group
    of ``size`` samples with ``unit="group"``), measured by ``metric``, at significance ``alpha``.

    Names are resolved to the registered :class:`~tda_core._actions.Action` and
    :class:`~tda_core._metrics.Metric`; a bad value raises :class:`~tda_core._exceptions.UsageError`
    in the user's words.
    """

    action: Action
    metric: Metric
    size: int = 10
    alpha: float = 0.05
    unit: str = "sample"

    def __post_init__(self) -> None:
        # Frozen: the resolved values are set once, here (names in, registered objects out).
        object.__setattr__(self, "action", get_action(self.action))
        object.__setattr__(self, "metric", get_metric(self.metric))
        size, alpha = check_numbers(self.size, self.alpha, self.unit)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "alpha", alpha)

    @classmethod
    def of(cls, action: str | Action, metric: str | Metric, size: int = 10, alpha: float = 0.05,
           unit: str = "sample") -> Request:
        """A request from names (``Request.of("remove", "loss", 10)``)."""
        return cls(action, metric, size, alpha, unit)  # type: ignore[arg-type]  # resolved in __post_init__
