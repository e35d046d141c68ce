"""Does the reported reliability predict a rerun? Two ensembles with disjoint seeds (0-2 and
10-12) rank the training samples for the test errors they share; each reports its reliability,
and the Spearman correlation between the two rankings is measured. Prints a table and one JSON
line. Usage: python bench/bench_reliability.py [--cases credit,digits-head,digits-full]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from tda_core import Analysis, LogisticSGDRecipe, RunConfig, load_demo
from tda_core.recipes import default_recipe
from tda_core.stats import rank_agreement

CASES = {
    "credit": ("credit", lambda data: LogisticSGDRecipe()),
    "digits-head": ("digits", lambda data: default_recipe(data, mode="head")),
    "digits-full": ("digits", lambda data: default_recipe(data)),
}


def two_ensembles(data, make_recipe, cache: str, action: str = "remove", metric: str = "loss") -> tuple[float, float, float]:
    analyses = [Analysis(data, make_recipe(data), RunConfig(ensemble=3, seed=s, cache_dir=cache)) for s in (0, 10)]
    first, second = ({(g.true, g.pred): g for g in a.errors.groups} for a in analyses)
    label = max((k for k in first if k in second), key=lambda k: len(set(first[k].test_indices) & set(second[k].test_indices)))
    tests = sorted(set(first[label].test_indices) & set(second[label].test_indices))
    rankings = [a.ranking(a.group(*label, tests), action, metric) for a in analyses]
    by_index = [r.delta_mean[np.argsort(r.train_index)] for r in rankings]
    return rankings[0].reliability, rankings[1].reliability, rank_agreement(*by_index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="tda-bench-reliability-")
    rows = []
    for case in args.cases.split(","):
        demo, make_recipe = CASES[case]
        started = time.perf_counter()
        a, b, measured = two_ensembles(load_demo(demo), make_recipe, cache)
        rows.append({"case": case, "reliability_seeds_0_2": round(a, 3), "reliability_seeds_10_12": round(b, 3),
                     "measured_spearman": round(measured, 3), "seconds": round(time.perf_counter() - started, 1)})
    print(" | ".join(rows[0]))
    for row in rows:
        print(" | ".join(str(v) for v in row.values()))
    print(json.dumps({"bench": "reliability", "rows": rows}))


if __name__ == "__main__":
    main()
