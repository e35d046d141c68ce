"""Does the reported reliability predict a rerun? For each case and ensemble size E (3 and 5), two
ensembles with disjoint seeds (0..E-1 and 10..10+E-1) rank the training samples for the test errors
they share (remove, loss); each reports its reliability with its interval, and the Spearman
correlation between the two rankings is measured. Prints a table with both, the former estimate
(Spearman-Brown of the mean pairwise correlation) beside them, how many reports fall within 0.15 of
the measured value and how many intervals hold it, the issue's form of the table (the mean of the
two reports against the measured value), and one JSON line.

Every member goes through the engine's cache (``--cache-dir``, default the engine's), and the kept
test rows are all the test rows, so E=3 reuses the members of E=5 and a rerun trains nothing.
The cases: the credit demo (default recipe), the digits demo in head mode and in full retraining
(10 epochs, and 3 epochs as in the issue's table), and ``shapes``, an image set made here by code
(ten classes of noisy shapes, 5 epochs).

``--draws R`` adds the study that chose the method: the ten members (seeds 0-4 and 10-14, from the
cache) of each case are split at random into two disjoint ensembles of E, R times, on the largest
error group of all ten; for the former and the new estimate it prints the mean error against the
measured agreement (bias), its root mean square, the share within 0.15, and the share of intervals
that hold the measured value.

Usage: python bench/bench_reliability.py [--cases credit,digits-head,digits-full,digits-full-3,shapes-full]
       [--members 3,5] [--draws 40] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tda_core import Analysis, Dataset, LogisticSGDRecipe, RunConfig, load_demo
from tda_core._metrics import get_metric
from tda_core._stats import mean_pair_reliability, rank_agreement, reliability_estimate
from tda_core.recipes import default_recipe

#: How far a reported reliability may lie from the measured one (issue 22).
TOLERANCE = 0.15

SHAPES = ("disc", "square", "triangle", "cross", "hbar", "vbar", "diagonal", "ring", "dots", "corner")


def _shape(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One shape, drawn at a random place and scale, as a (size, size) mask in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = rng.uniform(11, size - 11, 2)
    r = rng.uniform(6.0, 8.5)
    w = rng.uniform(1.2, 2.6)
    dy, dx = yy - cy, xx - cx
    if kind == "disc":
        m = dy**2 + dx**2 <= r**2
    elif kind == "square":
        m = (abs(dy) <= r * 0.8) & (abs(dx) <= r * 0.8)
    elif kind == "triangle":
        m = (dy <= r * 0.7) & (dy >= -r * 0.9 + 1.6 * abs(dx))
    elif kind == "cross":
        m = ((abs(dy) <= w) & (abs(dx) <= r)) | ((abs(dx) <= w) & (abs(dy) <= r))
    elif kind == "hbar":
        m = (abs(dy) <= w) & (abs(dx) <= r * 1.2)
    elif kind == "vbar":
        m = (abs(dx) <= w) & (abs(dy) <= r * 1.2)
    elif kind == "diagonal":
        m = (abs(dy - dx) <= w * 1.4) & (abs(dx) <= r)
    elif kind == "ring":
        d = np.sqrt(dy**2 + dx**2)
        m = abs(d - r) <= w
    elif kind == "dots":
        m = ((dy**2 + (dx - r * 0.7) ** 2) <= (r * 0.4) ** 2) | ((dy**2 + (dx + r * 0.7) ** 2) <= (r * 0.4) ** 2)
    else:  # corner: an L
        m = ((abs(dx + r * 0.6) <= w) & (abs(dy) <= r)) | ((abs(dy - r * 0.8) <= w) & (dx >= -r * 0.6) & (dx <= r))
    return m.astype(np.float64)


def shapes_dataset(n_per_class: int = 30, noise: float = 0.6, label_noise: float = 0.1, seed: int = 7) -> Dataset:
    """Ten classes of shapes on a noisy background: ``n_per_class`` training and as many test
    images per class, a fraction ``label_noise`` of the training labels replaced at random."""
    rng = np.random.default_rng(seed)
    size = 28

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(len(SHAPES)), n)
        x = np.stack([_shape(SHAPES[c], size, rng) for c in y])
        x = x * rng.uniform(0.5, 1.0, (len(y), 1, 1)) + noise * rng.standard_normal(x.shape) * 0.5
        x = np.clip(x, 0, 1) * 2 - 1
        return x[:, None].astype(np.float32), y.astype(np.int64)

    X_train, y_train = images(n_per_class)
    X_test, y_test = images(n_per_class)
    flip = rng.random(len(y_train)) < label_noise
    y_train = np.where(flip, rng.integers(0, len(SHAPES), len(y_train)), y_train)
    return Dataset(
        name="shapes", kind="images", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        classes=SHAPES, train_ids=np.array([f"shape/train/{i}" for i in range(len(y_train))]),
        test_ids=np.array([f"shape/test/{i}" for i in range(len(y_test))]), target="shape",
        description=f"generated shapes, {len(SHAPES)} classes, {len(y_train)} train / {len(y_test)} test, 28x28 grey",
    )


#: case -> (data loader, recipe for that data)
CASES = {
    "credit": (lambda: load_demo("credit"), lambda data: LogisticSGDRecipe()),
    "digits-head": (lambda: load_demo("digits"), lambda data: default_recipe(data, mode="head")),
    "digits-full": (lambda: load_demo("digits"), lambda data: default_recipe(data)),
    "digits-full-3": (lambda: load_demo("digits"), lambda data: default_recipe(data, epochs=3)),
    "shapes-full": (shapes_dataset, lambda data: default_recipe(data, epochs=5)),
}
SEEDS = (0, 10)


def two_ensembles(data: Dataset, make_recipe, members: int, cache: str | None, action: str = "remove",
                  metric: str = "loss") -> list[dict]:
    """Each ensemble's reliability (point, interval, former estimate) and the measured agreement
    between the two rankings on the largest error group they share."""
    rows = np.arange(data.n_test)
    analyses = [Analysis(data, make_recipe(data), RunConfig(ensemble=members, seed=s, cache_dir=cache), kept_rows=rows)
                for s in SEEDS]
    first, second = ({(g.true, g.pred): g for g in a.errors.groups} for a in analyses)
    label = max((k for k in first if k in second), key=lambda k: len(set(first[k].test_indices) & set(second[k].test_indices)))
    tests = sorted(set(first[label].test_indices) & set(second[label].test_indices))
    rankings = [a.ranking(a.group(*label, tests), action, metric) for a in analyses]
    measured = rank_agreement(*(r.delta_mean[np.argsort(r.index)] for r in rankings))
    out = []
    for seed, a, r in zip(SEEDS, analyses, rankings):
        got = a.reliability_of(r)
        deltas = a.member_deltas(r)
        out.append({"seeds": f"{seed}-{seed + members - 1}", "reported": got.value, "low": got.low, "high": got.high,
                    "former": mean_pair_reliability(deltas, a.baseline.runs, a.baseline.deterministic),
                    "measured": measured, "group": f"{label[0]}->{label[1]}", "tests": len(tests)})
    return out


def pooled_deltas(data: Dataset, make_recipe, cache: str | None, members: int = 5, metric: str = "loss") -> np.ndarray:
    """The remove deltas (10, n_train) of seeds 0-4 and 10-14 on the largest error group of all ten."""
    rows = np.arange(data.n_test)
    analyses = [Analysis(data, make_recipe(data), RunConfig(ensemble=members, seed=s, cache_dir=cache), kept_rows=rows)
                for s in SEEDS]
    proba = np.concatenate([a.baseline.proba_test for a in analyses])
    predicted = proba.mean(axis=0).argmax(axis=1)
    wrong = np.flatnonzero(predicted != data.y_test)
    pairs = {}
    for t in wrong:
        pairs.setdefault((int(data.y_test[t]), int(predicted[t])), []).append(int(t))
    tests = np.array(sorted(max(pairs.values(), key=len)))
    m = get_metric(metric)
    parts = []
    for a in analyses:
        y_true, y_pred = data.y_test[tests], predicted[tests]
        before = m.values(a.baseline.proba_test[:, tests], y_true, y_pred)
        after = m.values(a.counterfactuals("remove").at(tests), y_true, y_pred)
        parts.append((after.mean(axis=-1) - before.mean(axis=-1)).T)
    return np.concatenate(parts)


def study(case: str, deltas: np.ndarray, members: int, draws: int, rng: np.random.Generator) -> dict:
    """Former and new estimates against the measured agreement over random disjoint splits."""
    former, point, inside, measured, pair = [], [], [], [], []
    for _ in range(draws):
        order = rng.permutation(len(deltas))
        a, b = deltas[order[:members]], deltas[order[members : 2 * members]]
        agreement = rank_agreement(a.mean(axis=0), b.mean(axis=0))
        for x in (a, b):
            got = reliability_estimate(x)
            former.append(mean_pair_reliability(x))
            point.append(got.value)
            inside.append(got.low <= agreement <= got.high)
            measured.append(agreement)
        pair.append(abs((point[-1] + point[-2]) / 2 - agreement) <= TOLERANCE)
    measured, former, point = np.array(measured), np.array(former), np.array(point)

    def errors(v: np.ndarray) -> dict:
        e = v - measured
        return {"bias": float(e.mean()), "rmse": float(np.sqrt(np.mean(e * e))), "within": float(np.mean(abs(e) <= TOLERANCE))}

    return {"case": case, "E": members, "draws": draws, "measured": float(measured.mean()), "measured_sd": float(measured.std()),
            "former": errors(former), "new": errors(point), "inside": float(np.mean(inside)),
            "pair_within": float(np.mean(pair))}


def pair_rows(table: list[dict]) -> list[dict]:
    """The issue's table: per case and E, the mean of the two ensembles' reported reliabilities
    against the one measured agreement between them."""
    out = []
    for key in dict.fromkeys((r["case"], r["E"]) for r in table):
        rows = [r for r in table if (r["case"], r["E"]) == key]
        reported = float(np.mean([r["reported"] for r in rows]))
        out.append({"case": key[0], "E": key[1], "reported": reported, "measured": rows[0]["measured"],
                    "within": abs(reported - rows[0]["measured"]) <= TOLERANCE})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--members", default="3,5", help="ensemble sizes (3,5)")
    parser.add_argument("--cache-dir", help="the engine's cache (default: $TDA_CACHE_DIR or ./cache)")
    parser.add_argument("--draws", type=int, default=0, help="random disjoint splits of the ten members per case and E (0: none)")
    args = parser.parse_args()
    table = []
    for case in args.cases.split(","):
        load, make_recipe = CASES[case]
        data = load()
        for members in (int(m) for m in args.members.split(",")):
            started = time.perf_counter()
            for row in two_ensembles(data, make_recipe, members, args.cache_dir):
                row = {"case": case, "E": members, **row, "seconds": round(time.perf_counter() - started, 1)}
                row["within"] = abs(row["reported"] - row["measured"]) <= TOLERANCE
                row["inside"] = row["low"] is not None and row["low"] <= row["measured"] <= row["high"]
                table.append(row)
    print(f"{'case':12s} {'E':>2s} {'seeds':>6s} {'former':>7s} {'reported':>8s} {'interval':>14s} {'measured':>8s}  within 0.15  inside")
    for r in table:
        print(f"{r['case']:12s} {r['E']:2d} {r['seeds']:>6s} {r['former']:7.2f} {r['reported']:8.2f} "
              f"[{r['low']:5.2f}, {r['high']:5.2f}] {r['measured']:8.2f}  {'yes' if r['within'] else 'NO':>11s}  "
              f"{'yes' if r['inside'] else 'no':>6s}")
    within, inside = sum(r["within"] for r in table), sum(r["inside"] for r in table)
    former = sum(abs(r["former"] - r["measured"]) <= TOLERANCE for r in table)
    print(f"reported within {TOLERANCE} of measured: {within}/{len(table)} (former estimate: {former}/{len(table)}); "
          f"measured inside the interval: {inside}/{len(table)}")
    pairs = pair_rows(table)
    print("\nthe issue's form: the mean of the two ensembles' reports against the measured agreement")
    print(f"{'case':12s} {'E':>2s} {'reported':>8s} {'measured':>8s}  within 0.15")
    for r in pairs:
        print(f"{r['case']:12s} {r['E']:2d} {r['reported']:8.2f} {r['measured']:8.2f}  {'yes' if r['within'] else 'NO':>11s}")
    pairs_within = sum(r["within"] for r in pairs)
    print(f"mean of the two within {TOLERANCE}: {pairs_within}/{len(pairs)}")
    studies = []
    if args.draws:
        rng = np.random.default_rng(0)
        print(f"\nover {args.draws} random splits of ten members into two ensembles of E (each ensemble's estimate):")
        print(f"{'case':12s} {'E':>2s} {'measured':>13s}  former: bias   rmse within   new: bias   rmse within  inside"
              "  pair within")
        for case in args.cases.split(","):
            load, make_recipe = CASES[case]
            deltas = pooled_deltas(load(), make_recipe, args.cache_dir)
            for members in (int(m) for m in args.members.split(",")):
                r = study(case, deltas, members, args.draws, rng)
                studies.append(r)
                f, n = r["former"], r["new"]
                print(f"{case:12s} {members:2d} {r['measured']:6.2f} +- {r['measured_sd']:4.2f}  {f['bias']:+11.2f} {f['rmse']:6.2f} "
                      f"{f['within']:6.2f}  {n['bias']:+10.2f} {n['rmse']:6.2f} {n['within']:6.2f}  {r['inside']:6.2f}"
                      f"  {r['pair_within']:11.2f}")
    print(json.dumps({"bench": "reliability", "rows": table, "within": within, "inside": inside, "former_within": former,
                      "n": len(table), "pairs": pairs, "pairs_within": pairs_within, "study": studies}))


if __name__ == "__main__":
    main()
