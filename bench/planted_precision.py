"""Reliability of each tabular recipe on the planted cause of tests/planted.py.

Breast-cancer data with the labels of the 40 training samples nearest one benign test sample
flipped; `remove`/`loss` ranking of the resulting error group. Prints the precision of the top
10 and of the selected group (p < 0.05), per recipe, and one JSON line.

    python bench/planted_precision.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from planted import planted_breast_cancer  # noqa: E402
from tda_core.analysis import Analysis  # noqa: E402
from tda_core.engine import RunConfig  # noqa: E402
from tda_core.recipes import TABULAR_RECIPES  # noqa: E402


def main() -> None:
    planted = planted_breast_cancer()
    rows = []
    print(f"{'recipe':16s} {'precision@10':>12s} {'selected':>8s} {'sel. precision':>14s} {'seconds':>8s}")
    for name, make in TABULAR_RECIPES.items():
        analysis = Analysis(planted.data, make(), RunConfig(use_cache=False, n_jobs=2))
        group = next(g for g in analysis.errors.groups if planted.target_test in g.test_indices)
        start = time.perf_counter()
        result = analysis.attribute(group, "remove", "loss", size=10)
        seconds = time.perf_counter() - start
        top = {int(i) for i in result.ranking.train_index[:10]}
        selected = set(result.selected)
        row = {
            "recipe": name,
            "precision_at_10": len(top & planted.planted) / 10,
            "selected": len(selected),
            "selected_precision": len(selected & planted.planted) / max(1, len(selected)),
            "seconds": round(seconds, 2),
        }
        rows.append(row)
        print(f"{name:16s} {row['precision_at_10']:12.1f} {row['selected']:8d} {row['selected_precision']:14.1f} {seconds:8.1f}")
    print(json.dumps({"bench": "planted_precision", "results": rows}))


if __name__ == "__main__":
    main()
