"""One analysis of one (dataset, recipe, run configuration): what the CLI and the pages call.

It keeps the baseline and, per action, what the views read of every training sample's
counterfactual models (:mod:`tda_core._counterfactuals`: the probabilities of the test errors and
the accuracies), so changing the metric, the error group, the test samples or the group size
re-ranks without training anything while those rows fit the memory budget. The baseline also decides whether the model is
*deterministic* (every member gives the same probabilities); such a model is then trained once
per edit instead of once per member.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ._actions import POOL, TRAINING, Action, Edit, Subject, get_action
from ._attribution import Baseline, Effect, Ranking, effect_from_proba, make_baseline, metric_before_after, rank
from ._counterfactuals import Counterfactuals
from ._engine import Engine, Pace, ProgressCallback, RunConfig
from ._errors import SLICE, ErrorGroup, ErrorReport, error_report, slice_group
from ._exceptions import UsageError
from ._metrics import Metric, get_metric
from ._request import Request, check_numbers
from ._stats import LOW_RELIABILITY, Reliability, reliability_estimate
from ._training_groups import GroupRanking, candidate_groups, rank_groups
from .data._dataset import Dataset
from .estimates._candidates import choose_candidates, summarize
from .limits import AUTO_JOBS, check_run, cores, ranking_plan, workers_within_budget
from .recipes._base import Member, Recipe
from .recipes._protocols import Estimates, HasStart, RoutesWeights


def check_request(size: int, alpha: float, unit: str = "sample") -> None:
    """Refuse a bad size, alpha or unit before anything is trained (a :class:`~tda_core.Request`
    checks them the same way; this is for callers that have no action yet)."""
    check_numbers(size, alpha, unit)


def check_action(data: Dataset, action: Action, unit: str = "sample") -> None:
    """Refuse an action the data or the settings cannot serve, before anything is trained."""
    if action.subject is not POOL:
        return
    if not data.has_pool:
        raise UsageError(
            "add needs a pool: labelled samples outside the training set (a table with the target column, "
            "or images laid out as <class>/*) to add from"
        )
    if unit != "sample":
        raise UsageError("add ranks pool samples one by one; candidate training groups apply to remove, relabel and upweight")


@dataclass(frozen=True)
class Attribution:
    """The answer to "which training data is behind this error group, and what would acting do"."""

    group: ErrorGroup
    unit: str  # "sample" or "group"
    ranking: Ranking | GroupRanking
    size: int
    alpha: float
    selected: tuple[int, ...]
    effect: Effect | None  # None when nothing is significant and improving
    warnings: tuple[str, ...]
    #: The ranking's reliability with its interval (None: only the point, ``ranking.reliability``, is known).
    reliability_estimate: Reliability | None = None

    @property
    def reliability(self) -> float | None:
        return self.ranking.reliability

    @property
    def reliability_interval(self) -> tuple[float, float] | None:
        """Where a rerun's Spearman correlation with this ranking falls (shared/DESIGN.md)."""
        return None if self.reliability_estimate is None else self.reliability_estimate.interval

    @property
    def deterministic(self) -> bool:
        return self.ranking.deterministic


class Analysis:
    """Thread-safe: a dashboard shares one Analysis between browser tabs, and a lock makes a
    second tab wait for the first one's retraining instead of repeating it."""

    def __init__(
        self, data: Dataset, recipe: Recipe, config: RunConfig = RunConfig(), progress: ProgressCallback | None = None,
        kept_rows: Sequence[int] | np.ndarray | None = None,
    ):
        recipe.validate(data)  # before anything trains
        self.data = data
        #: Test rows every ranking keeps, whatever this ensemble's errors are (None: its errors).
        #: Pinned, they keep the cache keys of the counterfactuals the same across ensembles of
        #: other sizes or seeds, so a growing ensemble trains only its new members.
        self.kept_rows = None if kept_rows is None else np.unique(np.asarray(kept_rows, dtype=np.int64))
        self.recipe = recipe
        self.config = config
        self.engine = Engine(config, progress)
        self._kept: dict[str, Counterfactuals] = {}  # one ranking per action: the budget holds one
        #: How the last ranking fitted the memory budget (tda_core.limits.PLANS).
        self.plan = "candidates" if config.candidates else "exact"
        self._effects: dict[tuple, Effect] = {}
        self._baseline: Baseline | None = None
        self._candidate_rankings: dict[tuple, Ranking] = {}
        self._candidate_kept: dict[tuple, Counterfactuals] = {}
        self._group_rankings: dict[tuple, tuple[GroupRanking, np.ndarray]] = {}
        self._lock = threading.RLock()

    # --- the baseline ------------------------------------------------------------------------

    def _baseline_members(self) -> list[Member]:
        """The requested members, plus one more run when they span a single seed: telling a
        deterministic model apart needs two independent members."""
        members = self.recipe.members(self.config.ensemble, self.config.seed)
        if len({m.seed for m in members}) < 2:
            probe = self.recipe.members(self.recipe.members_per_run * 2, self.config.seed)[self.recipe.members_per_run :]
            members = members + [m for m in probe if m not in members][:1]
        return members

    def compute_baseline(self, progress: ProgressCallback | None = None) -> Baseline:
        with self._lock:
            if self._baseline is None:
                requested = self.recipe.members(self.config.ensemble, self.config.seed)
                members = self._baseline_members()
                self.engine.prepare(self.data, self.recipe, progress)
                proba = self.engine.predict(self.data, self.recipe, [Edit.baseline()], members, "train+test", progress)[0]
                baseline = make_baseline(self.data, proba, members)
                if not baseline.deterministic and len(members) > len(requested):
                    keep = [members.index(m) for m in requested]
                    baseline = make_baseline(self.data, proba[keep], requested)
                    if self.config.ensemble < 2:
                        raise UsageError(
                            f"{self.recipe.display_name} depends on its seed, so one member cannot tell its effects "
                            "from training noise: use an ensemble of at least 2 members (3 or more is better)"
                        )
                self._baseline = baseline
            return self._baseline

    @property
    def baseline(self) -> Baseline:
        return self.compute_baseline()

    def has_baseline(self) -> bool:
        return self._baseline is not None

    @property
    def members(self) -> tuple[Member, ...]:
        """The members every counterfactual is trained with (one for a deterministic model)."""
        return self.baseline.members

    @cached_property
    def errors(self) -> ErrorReport:
        return error_report(self.data, self.baseline.proba_test)

    @cached_property
    def slices(self):
        """Error slices beyond class pairs (tda_core._slices): tree leaves, representation clusters."""
        from ._slices import error_slices

        return error_slices(self)

    def group(self, true: str, pred: str, tests: Sequence[int] | None = None) -> ErrorGroup:
        if true == SLICE and SLICE not in self.data.classes:  # --group slice:ID
            from ._slices import find_slice

            group = slice_group(pred, find_slice(self.slices, pred).test_indices)
            return group.narrowed(tests) if tests else group
        self.data.class_index(true), self.data.class_index(pred)  # unknown names fail clearly
        group = self.errors.find(true, pred)
        return group.narrowed(tests) if tests else group

    # --- single-sample rankings --------------------------------------------------------------

    def has_ranking(self, action: str, group: ErrorGroup | None = None, metric: str | None = None) -> bool:
        """Whether the ranking is ready without retraining. In candidate mode the group and the
        metric choose the candidates, so they are part of the question; otherwise a ranking is
        ready where its kept rows cover the group's test samples."""
        if self.config.candidates:
            return group is not None and (action, metric, group.test_indices) in self._candidate_rankings
        kept = self._kept.get(action)
        return kept is not None and (group is None or kept.covers(group.test_indices))

    def _plan_rows(self, group: ErrorGroup | None, subject: Subject) -> tuple[str, np.ndarray]:
        """The test rows whose probabilities a ranking keeps (shared/DESIGN.md, "Scale and
        memory"): every test error of the baseline and the group's test samples, so that the
        metric, the size and the error group switch without retraining; only the group's test
        samples when that union would not fit the memory budget nor the cache's disk (a new group then
        retrains); on disk, the union stays in the cache and a group's rows are read when ranked.
        Returns the plan (tda_core.limits.PLANS) with the rows."""
        tests = np.unique(np.asarray(group.test_indices if group is not None else [], dtype=np.int64))
        known = self.errors.error_indices if self.kept_rows is None else self.kept_rows
        wanted = np.union1d(known, tests).astype(np.int64)
        plan, _ = ranking_plan(self.data, self.recipe, self.config, len(wanted), len(tests), subject)
        rows = tests if plan == "exact, group rows" else wanted
        self._widen(len(tests) if plan != "exact" else len(wanted), subject)
        return plan, rows

    def _widen(self, kept_rows: int, subject: Subject = TRAINING) -> None:
        """With ``n_jobs=AUTO_JOBS``, how many workers the engine may start for this ranking: as
        many as the memory budget holds (each worker priced); the engine then takes the idle ones."""
        if self.config.n_jobs == AUTO_JOBS and self.config.backend in ("loky", "threading"):
            self.engine.auto_workers = workers_within_budget(self.data, self.recipe, self.config, most=cores(),
                                                             kept_rows=kept_rows, subject=subject)

    def counterfactuals(self, action: str | Action, group: ErrorGroup | None = None, progress: ProgressCallback | None = None) -> Counterfactuals:
        """What the models with the action applied to each training sample (pool sample for add)
        kept: the test rows of :meth:`_plan_rows` and their accuracies, (N, E, ...)."""
        action = get_action(action)
        check_action(self.data, action)
        tests = group.test_indices if group is not None else ()
        with self._lock:
            kept = self._kept.get(action.name)
            if kept is not None and kept.covers(tests):
                return kept
            self.plan, rows = self._plan_rows(group, action.subject)
            self._kept[action.name] = self.engine.summaries(
                self.data, self.recipe, self._single_edits(action), self.members, rows, progress, on_disk=self.plan == "exact, on disk"
            )
            return self._kept[action.name]

    def ranking_pace(self, action: str | Action, group: ErrorGroup | None = None, progress: ProgressCallback | None = None) -> Pace | None:
        """How fast an exact single-sample ranking of ``action`` will go, measured on its own first
        unit (trained and cached: the ranking starts from it) with the workers it would use
        (:meth:`Engine.summaries_pace <tda_core._engine.Engine.summaries_pace>`). None in candidate
        mode, without a cache, or where the ranking's work is done."""
        action = get_action(action)
        check_action(self.data, action)
        if self.config.candidates or not self.config.use_cache or action.name in self._kept:
            return None
        _, rows = self._plan_rows(group, action.subject)
        return self.engine.summaries_pace(self.data, self.recipe, self._single_edits(action), self.members, rows, progress)

    def _single_edits(self, action: Action) -> list[Edit]:
        """The action on each of its subject's samples alone: what a single-sample ranking trains."""
        targets = self.baseline.relabel_targets
        return [action.edit([i], targets) for i in range(action.subject.size(self.data))]

    def ranking(self, group: ErrorGroup, action: str | Action, metric: str | Metric, progress: ProgressCallback | None = None) -> Ranking:
        action, metric = get_action(action), get_metric(metric)
        check_action(self.data, action)
        if self.config.candidates:
            key = (action.name, metric.name, group.test_indices)
            with self._lock:
                if key not in self._candidate_rankings:
                    self._candidate_rankings[key] = self._candidate_ranking(group, action, metric, progress)
                return self._candidate_rankings[key]
        return rank(self.data, self.baseline, self.counterfactuals(action, group, progress), action, metric, group.test_indices)

    def estimates(
        self, group: ErrorGroup, action: str | Action, metric: str | Metric, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Estimated effect of the action on each training sample, averaged over the member seeds."""
        action, metric = get_action(action), get_metric(metric)
        tests = np.asarray(group.test_indices)
        seeds = list(dict.fromkeys(m.seed for m in self.members))
        y_pred = self.baseline.predicted_test[tests]
        per_seed = self.engine.estimate(
            self.data, self.recipe, seeds, action, self.baseline.relabel_targets, tests, y_pred, metric, progress
        )
        return per_seed.mean(axis=0)

    def _candidate_ranking(self, group: ErrorGroup, action: Action, metric: Metric, progress: ProgressCallback | None) -> Ranking:
        n_top = self.config.candidates
        if n_top is None:  # ranking() comes here only in candidate mode
            raise RuntimeError("a candidate ranking needs a number of candidates (RunConfig.candidates)")
        check_run(self.data, self.recipe, self.config, ranking=True, kept_rows=len(set(group.test_indices)))
        self._widen(len(set(group.test_indices)))
        self.plan = "candidates"
        estimate = self.estimates(group, action, metric, progress)
        chosen = choose_candidates(estimate, metric, int(n_top), self.config.seed)
        edits = [action.edit([i], self.baseline.relabel_targets) for i in chosen]
        kept = self.engine.summaries(self.data, self.recipe, edits, self.members, group.test_indices, progress)
        self._candidate_kept[(action.name, metric.name, group.test_indices)] = kept
        ranking = rank(self.data, self.baseline, kept, action, metric, group.test_indices, indices=chosen.tolist())
        method = self.recipe.estimate_method if isinstance(self.recipe, Estimates) else "estimate"
        return replace(ranking, estimates=summarize(method, estimate, metric, ranking.index, ranking.delta_mean))

    # --- candidate groups ----------------------------------------------------------------------

    def _first_start(self):
        seed = self.members[0].seed
        return seed, (self.engine.starts(self.data, self.recipe, [seed])[seed] if isinstance(self.recipe, HasStart) else None)

    def representation(self) -> tuple[np.ndarray, np.ndarray]:
        """The first member's representation of the training and test rows."""
        seed, start = self._first_start()
        return self.recipe.representation(self.data, seed, start)

    def pool_representation(self) -> np.ndarray:
        """The first member's representation of the pool rows (in the space of :meth:`representation`)."""
        seed, start = self._first_start()
        return self.recipe.pool_representation(self.data, seed, start)

    def group_ranking(
        self, group: ErrorGroup, action: str | Action, metric: str | Metric, size: int, progress: ProgressCallback | None = None
    ) -> tuple[GroupRanking, np.ndarray]:
        """Candidate groups of ``size`` ranked by the effect of acting on each as a whole, and
        the test probabilities of each group's edit (for the group effect)."""
        action, metric = get_action(action), get_metric(metric)
        check_action(self.data, action, unit="group")
        key = (action.name, metric.name, group.test_indices, int(size))
        with self._lock:
            if key not in self._group_rankings:
                F_train, F_test = self.representation()
                groups = candidate_groups(
                    F_train, F_test, self.data.y_train, self.data.classes, group.test_indices, size, self.config.seed
                )
                targets = self.baseline.relabel_targets
                edits = [action.edit(g.train_indices, targets) for g in groups]
                proba = self.engine.predict(self.data, self.recipe, edits, self.members, progress=progress)
                ranking = rank_groups(self.data, self.baseline, proba, groups, action, metric, group.test_indices)
                by_indices = {g.train_indices: i for i, g in enumerate(groups)}
                ordered = proba[[by_indices[g.train_indices] for g in ranking.groups]]
                self._group_rankings[key] = (ranking, ordered)
            return self._group_rankings[key]

    # --- the reliability of a ranking -------------------------------------------------------------

    def member_deltas(self, ranking: Ranking | GroupRanking) -> np.ndarray | None:
        """Each member's delta for each ranked sample or group (E, N), in the order the
        counterfactuals were trained (the reliability ignores the order); None for a ranking
        this analysis did not make."""
        metric, tests = get_metric(ranking.metric), np.asarray(ranking.test_indices, dtype=np.int64)
        with self._lock:
            if isinstance(ranking, GroupRanking):
                found = [proba for made, proba in self._group_rankings.values() if made is ranking]
                if not found:
                    return None
                before, after = metric_before_after(self.data, self.baseline, found[0], metric, tests)
            else:
                key = (ranking.action, ranking.metric, ranking.test_indices)
                kept = self._candidate_kept.get(key) if self.config.candidates else self._kept.get(ranking.action)
                if kept is None or not kept.covers(tests) or len(kept) != len(ranking.index):
                    return None
                y_pred, y_true = self.baseline.predicted_test[tests], self.data.y_test[tests]
                before = metric.values(self.baseline.proba_test[:, tests], y_true, y_pred)
                after = metric.values(kept.at(tests), y_true, y_pred)
        return (after.mean(axis=-1) - before.mean(axis=-1)).T

    def reliability_of(self, ranking: Ranking | GroupRanking) -> Reliability:
        """The ranking's reliability with its interval (:func:`tda_core._stats.reliability_estimate`)."""
        baseline = self.baseline
        deltas = self.member_deltas(ranking)
        if deltas is None:
            return Reliability(ranking.reliability, None, None, baseline.independent_runs)
        return reliability_estimate(deltas, baseline.runs, baseline.deterministic)

    # --- group effects -------------------------------------------------------------------------

    @staticmethod
    def _effect_key(group: ErrorGroup, action: str, metric: str, train_indices: Sequence[int]) -> tuple:
        return (action, metric, tuple(sorted(int(i) for i in train_indices)), group.test_indices)

    def has_effect(self, group: ErrorGroup, action: str, metric: str, train_indices: Sequence[int]) -> bool:
        return self._effect_key(group, action, metric, train_indices) in self._effects

    def effect(
        self, group: ErrorGroup, action: str | Action, metric: str | Metric, train_indices: Sequence[int],
        progress: ProgressCallback | None = None,
    ) -> Effect:
        """Retrain with the action applied to all of ``train_indices`` (pool indices for add) at
        once, and measure it."""
        action, metric = get_action(action), get_metric(metric)
        check_action(self.data, action)
        key = self._effect_key(group, action.name, metric.name, train_indices)
        with self._lock:
            if key not in self._effects:
                edit = action.edit(key[2], self.baseline.relabel_targets)
                after = self.engine.predict(self.data, self.recipe, [edit], self.members, progress=progress)[0]
                self._effects[key] = effect_from_proba(self.data, self.baseline, after, action, metric, edit.indices, group.test_indices)
            return self._effects[key]

    def attribute(
        self,
        group: ErrorGroup,
        action: str | Action,
        metric: str | Metric,
        size: int = 10,
        alpha: float = 0.05,
        unit: str = "sample",
        progress: ProgressCallback | None = None,
    ) -> Attribution:
        """:meth:`answer` for a request given by its parts."""
        return self.answer(group, Request.of(action, metric, size, alpha, unit), progress)

    def answer(self, group: ErrorGroup, request: Request, progress: ProgressCallback | None = None) -> Attribution:
        """Rank for ``request`` (retraining), select, and measure the selection's effect."""
        action, metric, size, alpha, unit = request.action, request.metric, request.size, request.alpha, request.unit
        check_action(self.data, action, unit)
        ranking: Ranking | GroupRanking
        if unit == "group":
            ranking, proba = self.group_ranking(group, action, metric, size, progress)
            best = ranking.best(alpha)
            selected = best.train_indices if best else ()
            effect = None
            if best is not None:
                after = proba[ranking.groups.index(best)]  # measured already: no extra retrain
                effect = effect_from_proba(self.data, self.baseline, after, action, metric, selected, group.test_indices)
        else:
            ranking = self.ranking(group, action, metric, progress)
            selected = ranking.select(size, alpha)
            effect = self.effect(group, action, metric, selected, progress) if selected else None
        estimate = self.reliability_of(ranking)
        notes = self.warnings(ranking, effect, alpha, estimate)
        return Attribution(group, unit, ranking, size, alpha, selected, effect, notes, estimate)

    def warnings(
        self, ranking: Ranking | GroupRanking, effect: Effect | None, alpha: float, estimate: Reliability | None = None
    ) -> tuple[str, ...]:
        """One plain sentence per thing the user must know before acting (``estimate``: the
        ranking's reliability with its interval, which the words follow where given)."""
        notes: list[str] = []
        baseline = self.baseline
        if baseline.deterministic:
            notes.append(
                "Deterministic model: every member gave the same probabilities, so it was trained once per edit; "
                "effects are exact and carry no p-value."
            )
        elif baseline.independent_runs < 2:
            notes.append(
                "The members are checkpoints of a single run, not independent seeds: no p-value or reliability can be "
                "computed; use more members so that they span several runs."
            )
        low = None if estimate is None else estimate.low
        if ranking.reliability is not None and ranking.reliability < LOW_RELIABILITY:
            within = "" if estimate is None or estimate.interval is None else (
                f" A rerun would agree with it between {estimate.low:.2f} and {estimate.high:.2f}.")
            notes.append(
                f"Low reliability ({ranking.reliability:.2f}): single-sample effects are mostly training noise here.{within} "
                "Use more members, head mode, a larger group, or rank candidate groups instead of single samples."
            )
        elif ranking.reliability is not None and estimate is not None and low is not None and low < LOW_RELIABILITY:
            notes.append(
                f"Uncertain reliability ({ranking.reliability:.2f}, interval {low:.2f} to {estimate.high:.2f}): with "
                f"{estimate.members} members a rerun could rank these samples quite differently. Use more members "
                "(--ensemble auto grows the ensemble until the ranking holds), head mode, or candidate groups."
            )
        if effect is not None:
            if effect.errors_new > 0:
                notes.append(
                    f"Acting on the selected samples fixes {effect.errors_fixed} of the chosen errors but creates "
                    f"{effect.errors_new} new error{'s' if effect.errors_new != 1 else ''} elsewhere "
                    f"(net benefit {effect.net_benefit:+d})."
                )
            if effect.accuracy_change < 0:  # the ensemble's accuracy, as the error counts and the Fix page
                notes.append(f"Acting on the selected samples lowers global test accuracy by {-effect.accuracy_change:.3f}.")
        elif not baseline.deterministic:
            what = "group" if isinstance(ranking, GroupRanking) else "sample"
            where = ranking.subject.noun.split()[0]  # "training", "pool"
            notes.append(f"No {where} {what} has a significant improving effect at alpha={alpha}.")
        if isinstance(self.recipe, RoutesWeights) and not self.recipe.weights_routed and ranking.action == "upweight":
            notes.append(f"{self.recipe.upweight_note[0].upper()}{self.recipe.upweight_note[1:]}.")
        return tuple(notes)
