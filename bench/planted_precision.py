"""Reliability of each tabular recipe on a planted cause: flipped labels around one test sample.

Breast cancer (scikit-learn), stratified 70/30 split; the labels of the 40 benign training
samples nearest one benign test sample (the one closest to the class boundary) are flipped
to malignant -- the same construction as the test suite's planted cause, rebuilt here. For each
recipe, ``Analysis.attribute(group, "remove", "loss", size=10)`` on the error group that holds
that test sample reports:

  precision@10         planted samples among the top 10 of the ranking
  selected precision   planted samples among the selected group (significant, improving,
                       at most 10; deterministic models need no p-value)

The fair baseline is chance: a random 10 hold 40 / n_train planted samples on average.
``paper-sgd`` (the study's recipe) makes its members out of checkpoints 30/40/50 of ONE run, so
with the default 3 members it has a single independent run: no p-value, nothing selected.
P-values need several runs: the row ``paper-sgd xR`` uses R runs (3R members, ``--paper-runs``).
Prints a table and one JSON line.

    python bench/planted_precision.py [--recipes logistic-sgd,paper-sgd,logistic-lbfgs] [--paper-runs 3] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tda_core import Analysis, Dataset, RunConfig, tabular_dataset
from tda_core.recipes._registry import PAPER_CHECKPOINTS, TABULAR_RECIPES

N_PLANTED = 40
ENSEMBLE = 3


def planted_breast_cancer(seed: int = 0) -> tuple[Dataset, frozenset[int], int]:
    """The data with flipped labels, the flipped training indices, and the test sample they surround."""
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame["label"] = np.where(frame["label"] == 1, "benign", "malignant")
    train, test = train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame["label"])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    features = [c for c in frame.columns if c != "label"]
    scaler = StandardScaler().fit(train[features])
    Xtr, Xte = scaler.transform(train[features]), scaler.transform(test[features])
    benign_test = np.flatnonzero(test["label"].to_numpy() == "benign")
    benign_train = np.flatnonzero(train["label"].to_numpy() == "benign")
    malignant_train = np.flatnonzero(train["label"].to_numpy() == "malignant")
    margin = [np.linalg.norm(Xtr[malignant_train] - Xte[t], axis=1).min() for t in benign_test]
    target = int(benign_test[int(np.argmin(margin))])
    distance = np.linalg.norm(Xtr[benign_train] - Xte[target], axis=1)
    planted = benign_train[np.argsort(distance)[:N_PLANTED]]
    train.loc[planted, "label"] = "malignant"
    return tabular_dataset(train, test, "label", name="planted-breast-cancer"), frozenset(int(i) for i in planted), target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default=",".join(TABULAR_RECIPES), help="comma-separated recipe names")
    parser.add_argument("--paper-runs", type=int, default=3, help="runs of the extra paper-sgd row (0: skip it)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in this process (0: as is)")
    args = parser.parse_args()
    if args.blas_threads:
        threadpool_limits(args.blas_threads)
    data, planted, target = planted_breast_cancer()
    chance = N_PLANTED / data.n_train
    runs = [(name, name, ENSEMBLE) for name in args.recipes.split(",")]
    if args.paper_runs and "paper-sgd" in TABULAR_RECIPES:
        runs.append((f"paper-sgd x{args.paper_runs}", "paper-sgd", args.paper_runs * len(PAPER_CHECKPOINTS)))
    rows = []
    print(f"planted cause: {N_PLANTED} flipped labels of {data.n_train} training rows; chance precision {chance:.2f}")
    print(
        f"{'recipe':18s} {'members':>7s} {'runs':>4s} {'precision@10':>12s} {'selected':>8s} {'sel. precision':>14s} "
        f"{'p-values':>8s} {'reliability':>11s} {'seconds':>8s}"
    )
    for label, name, ensemble in runs:
        if name not in TABULAR_RECIPES:
            raise SystemExit(f"unknown recipe {name!r}: choose from {', '.join(TABULAR_RECIPES)}")
        start = time.perf_counter()
        analysis = Analysis(data, TABULAR_RECIPES[name](), RunConfig(ensemble=ensemble, use_cache=False, n_jobs=args.n_jobs))
        group = next(g for g in analysis.errors.groups if target in g.test_indices)
        result = analysis.attribute(group, "remove", "loss", size=10)
        seconds = time.perf_counter() - start
        top = {int(i) for i in result.ranking.index[:10]}
        selected = set(result.selected)
        has_p = bool(np.isfinite(result.ranking.p_value).any())
        row = {
            "recipe": label,
            "members": len(analysis.members),
            "runs": analysis.baseline.independent_runs,
            "deterministic": analysis.baseline.deterministic,
            "precision_at_10": len(top & planted) / 10,
            "selected": len(selected),
            "selected_precision": None if not selected else len(selected & planted) / len(selected),
            "p_values": has_p,
            "reliability": None if result.reliability is None else round(result.reliability, 3),
            "seconds": round(seconds, 2),
            "warnings": list(result.warnings),
        }
        rows.append(row)
        sel_p = "-" if row["selected_precision"] is None else f"{row['selected_precision']:.2f}"
        rel = "-" if row["reliability"] is None else f"{row['reliability']:.3f}"
        p_col = "yes" if has_p else ("exact" if row["deterministic"] else "none")
        print(
            f"{label:18s} {row['members']:7d} {row['runs']:4d} {row['precision_at_10']:12.1f} {row['selected']:8d} "
            f"{sel_p:>14s} {p_col:>8s} {rel:>11s} {seconds:8.1f}"
        )
    print("p-values: 'none' = one independent run (checkpoints of one run are not independent evidence); 'exact' = deterministic model")
    print(json.dumps({"bench": "planted_precision", "n_train": data.n_train, "chance_precision": round(chance, 3), "results": rows}))


if __name__ == "__main__":
    main()
