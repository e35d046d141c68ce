"""The command line's text output: lines and tables with control characters escaped, engine
progress on stderr (a tqdm bar on a terminal, a line every few seconds otherwise), and the text
form of each command's JSON document."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._actions import TRAINING
from .._output import json_text

if TYPE_CHECKING:  # the types only: the text output imports no engine module it does not need
    from .._analysis import Attribution
    from .._compare import Comparison
    from .._engine import Progress
    from .._ensemble_growth import GrowthStep
    from .._errors import ErrorGroup


#: The ways out of a budget refusal, named as this command line's flags (tda_core.BudgetError.worded).
WAYS_OUT = {
    "candidate_mode": "use candidate mode (--candidates N)",
    "memory_limit": "raise the limit with --max-memory {needed}",
    "cache_folder": "choose another cache folder (--cache-dir DIR)",
    "no_cache": "run without the cache (--no-cache)",
    "trust_file": "pass --trust-code if you trust this file",
    "trust_it": "pass --trust-code",
}

#: Where a growing ensemble's budget is raised and its alternatives are chosen, as this command
#: line's flags (tda_core.Growth.limit, Alternative.kind).
GROWTH_FLAGS = {
    "seeds": "--max-ensemble",
    "memory": "--max-memory",
    "groups": "--unit group",
    "head": "--mode head",
}

#: Characters that change what a terminal shows (escapes, line breaks, bidirectional overrides).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: Any) -> str:
    """``text`` with control characters written as escapes (ESC as \\x1b, a newline as \\n):
    names from the user's data cannot move the cursor, recolour or rewrite the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def growth_reason(reason: str, limit: str | None) -> str:
    """Why a growing ensemble stopped, with the flag that raises the budget it stopped at."""
    flag = GROWTH_FLAGS.get(limit or "")
    return f"{reason} (raise it with {flag})" if flag else reason


def say(text: str = "") -> None:
    """One line of text output, control characters escaped."""
    print(printable(text))


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    import pandas as pd

    safe = [{k: printable(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    print(pd.DataFrame(safe, columns=list(columns)).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


class ProgressPrinter:
    """Engine progress on stderr: a tqdm bar on a terminal, a line every few seconds otherwise (a
    log or a pipe gets no carriage returns)."""

    def __init__(self, label: str):
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = time.monotonic()
        self._bar: Any = None

    def __call__(self, progress: Progress) -> None:
        finished = progress.done >= progress.total
        # One step (a model, the design matrices): its start on a terminal, its end if slow.
        if progress.total <= 1 and ((finished and progress.elapsed < 1.0) or (not finished and not self.tty)):
            return
        if self.tty:
            self._draw(progress, finished)
            return
        now = time.monotonic()
        if finished or now - self._last >= 5.0:
            sys.stderr.write(f"{self.label}: {progress.describe()}\n")
            sys.stderr.flush()
            self._last = now

    def _draw(self, progress: Progress, finished: bool) -> None:
        from tqdm import tqdm

        if self._bar is None or self._bar.total != progress.total:  # each phase (baseline, retraining) its own bar
            self.close()
            self._bar = tqdm(total=progress.total, desc=printable(self.label), file=sys.stderr, dynamic_ncols=True,
                             bar_format="{desc} {bar:30} {postfix}")
        self._bar.n = progress.done
        self._bar.set_postfix_str(progress.describe(), refresh=True)
        if finished:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def two_places(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def p_value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def print_json(doc: dict[str, Any]) -> None:
    print(json_text(doc))


def print_errors(doc: dict[str, Any]) -> None:
    """``errors``: the accuracy, the error groups and the error slices."""
    base, model, n_test = doc["base"], doc["model"], doc["data"]["n_test"]
    kind = "deterministic, trained once" if model["deterministic"] else f"x{model['ensemble']}"
    say(f"{doc['data']['n_train']} train / {n_test} test, model {model['name']} ({kind})")
    say(f"test accuracy {base['accuracy']:.3f} ({base['n_errors']} errors of {n_test}; members "
        f"{base['accuracy_mean']:.3f} +- {base['accuracy_std']:.3f})")
    print_table(doc["groups"], ["true", "pred", "count"])
    if doc["slices"]:
        say("error slices (attribute one with --slice ID):")
        for s in doc["slices"]:
            say(f"  {s['id']}: {len(s['test_indices'])} errors in {s['size']} test rows (error rate {s['error_rate']:.2f}): "
                f"{s.get('rule') or s.get('description')}")


def print_growth_step(step: GrowthStep) -> None:
    """One step of ``--ensemble auto``, on stderr beside the progress."""
    interval = step.reliability.interval
    shown = two_places(step.reliability.value)
    if interval is not None:
        shown += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    sys.stderr.write(f"ensemble of {step.members}: reliability {shown}, {step.retrains} models trained\n")


def print_attribution(doc: dict[str, Any], result: Attribution) -> None:
    """``attribute``: the reliability, the top of the ranking and the selection's effect."""
    action, metric, unit = doc["action"], doc["metric"], doc["unit"]
    say(f"group {result.group.label}: {result.group.count} test samples; action {action}, metric {metric}, unit {unit}")
    say(f"baseline accuracy {doc['base']['accuracy']:.3f} (members {doc['base']['accuracy_mean']:.3f} "
        f"+- {doc['base']['accuracy_std']:.3f})")
    reliability, interval = doc["reliability"], doc["reliability_interval"]
    shown = two_places(reliability)
    if interval is not None:
        shown += f", a rerun between {interval[0]:.2f} and {interval[1]:.2f}"
    say(f"reliability of the ranking: {shown} ({doc['reliability_verdict']})")
    if "growth" in doc:
        steps = ", ".join(f"{s['members']}: {two_places(s['reliability'])}" for s in doc["growth"])
        say(f"ensemble grown to {doc['model']['ensemble']} members (reliability by members {steps}); "
            f"stopped at the {doc['growth_stopped']}: {growth_reason(doc['growth_reason'], doc['growth_limit'])}")
        for alt in doc["alternatives"]:
            measured = "not measured" if alt["reliability"] is None else f"reliability {two_places(alt['reliability'])}"
            say(f"instead: {alt['advice']} ({GROWTH_FLAGS[alt['kind']]}; {measured})")
    for warning in doc["warnings"]:
        say(f"warning: {warning}")
    say("top of the ranking (retrained; * = selected):")
    chosen = set(result.selected)
    if unit == "group":
        key = TRAINING.indices_key  # candidate groups are of training samples
        rows = [dict(r, sel="*" if set(r[key]) == chosen else "", n=len(r[key])) for r in doc["ranking"][:10]]
        print_table(rows, ["sel", "group_id", "kind", "n", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    else:
        key = result.ranking.subject.index_key
        rows = [dict(r, sel="*" if r[key] in chosen else "") for r in doc["ranking"][: max(10, doc["size"])]]
        print_table(rows, ["sel", key, "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    effect = doc["group_effect"]
    if effect is None:
        say(f"nothing has a significant improving effect at alpha={doc['alpha']}")
    else:
        acted_on = result.effect.indices if result.effect is not None else ()
        say(f"group effect of {action} on {len(acted_on)} samples: "
            f"{metric} delta {effect['delta_mean']:+.4f} +- {effect['delta_std']:.4f} (p={p_value(effect['p_value'])}); "
            f"accuracy delta {effect['accuracy_delta_mean']:+.4f} +- {effect['accuracy_delta_std']:.4f}; "
            f"errors fixed {effect['errors_fixed']}, new {effect['errors_new']}, net benefit {effect['net_benefit']:+d}")
    if doc["estimates"]:
        est = doc["estimates"]
        say(f"candidate mode: {est['method']} estimates for all {len(est['values'])} samples, "
            f"{est['retrained']} retrained; Spearman(estimate, retrained) = {est['spearman']:.3f}")
    print_timing(doc["timing"])


def print_comparison(doc: dict[str, Any], result: Comparison, group: ErrorGroup) -> None:
    """``compare``: every action at each size, and the best."""
    sizes = ",".join(map(str, doc["sizes"]))
    say(f"group {group.label}: {group.count} test samples; metric {doc['metric']}, sizes {sizes}, alpha {doc['alpha']}")
    reliability = ", ".join(f"{a} {two_places(r)}" for a, r in doc["reliability"].items())
    say(f"reliability of the rankings: {reliability}")
    best = doc["best"]
    rows = [
        dict(s, best="*" if best and (s["action"], s["size"]) == (best["action"], best["size"]) else "",
             n=len(setting.indices), p_value=p_value(s["p_value"]))
        for s, setting in zip(doc["settings"], result.settings)
    ]
    print_table(rows, ["best", "action", "size", "n", "delta_mean", "delta_std", "p_value", "errors_fixed", "errors_new",
                       "net_benefit", "accuracy_delta_mean", "accuracy_delta_std"])
    for s in doc["settings"]:
        if s.get("note"):
            say(f"note: {s['action']} size {s['size']}: {s['note']}")
    if best:
        say(f"best: {best['action']} on {best['size']} (highest net benefit; ties by accuracy delta, then improvement)")
    print_timing(doc["timing"])


def print_timing(timing: dict[str, Any]) -> None:
    say(f"{timing['seconds']:.1f}s, {timing['retrains']} models trained, {timing['cache_hits']} from the cache")
