"""Feature attribution beside training data attribution: which features push a test error, and
its top training samples, toward the class the model predicted.

Every attribution is computed on the baseline model of the first ensemble member (its seed),
trained through the engine (:meth:`tda_core._engine.Engine.fitted`: cached and counted), and
aligned on the same features for the error and the training samples:

* **Tables, linear models** (the default logistic recipe, or a scikit-learn estimator or pipeline
  whose last step has ``coef_``): exact contributions. In the space the linear step sees (after
  imputation, one-hot encoding, scaling), each column contributes ``w_j * (z_j - mean_j)``, where
  ``w = coef[pred] - coef[true]`` (the weights of the logit difference between the predicted
  and the true class) and ``mean`` is the training mean of that column. The one-hot columns of a
  categorical feature are summed back to the feature (the column transformer's output names say
  which). The contributions plus the logit difference at the training mean add up to the row's
  logit difference exactly.
* **Tables, other scikit-learn models**: occlusion. A column's attribution is the logit
  difference ``log p(pred) - log p(true)`` of the row minus the same with that column set to a
  typical value: its training mean (numeric) or most frequent value (categorical). It says how
  much the row's own value, rather than a typical one, moves the prediction toward ``pred``.
* **Tables, PyTorch networks**: gradient x centred input of the logit difference in the
  preprocessed space (exact for a linear network, a first-order approximation otherwise),
  summed back to the columns like the linear contributions.
* **Images**: gradient x input of the predicted class's logit with respect to the pixels, on the
  member's network (plain ``torch.autograd``: Captum is not a dependency of this project). The
  map (H, W) sums the channels; the features are the nine regions of a 3 x 3 grid (the sum of
  the map over each). In head mode the network is the start: the full network whose body the
  members share (the uploaded weights, or the baseline trained in full with that seed).

Positive values push toward the predicted class (against the true class, for tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._exceptions import ModelError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ._analysis import Analysis
    from .data._dataset import Dataset
    from .recipes._base import Recipe

#: How many of a row's largest attributions (by magnitude) count as "among the largest".
TOP_FEATURES = 3
#: The regions of an image, row by row of a 3 x 3 grid.
REGIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
LINEAR = "exact linear contributions (coefficient x centred value)"
OCCLUSION = "occlusion against training means and modes"
GRADIENT = "gradient x input of the predicted class's logit"
CENTRED_GRADIENT = "gradient x centred input of the logit difference (a first-order approximation)"


@dataclass(frozen=True, eq=False)
class FeatureAttribution:
    """Per-feature attributions toward ``pred`` of a test error and of training samples."""

    features: tuple[str, ...]
    method: str
    pred: str
    true: str
    test_index: int
    error: np.ndarray  # (F,)
    train_indices: tuple[int, ...]
    train: np.ndarray  # (K, F)
    shared: tuple[str, ...]  # features among the error's largest that its training samples share (same sign)
    sentence: str
    #: Tables with a linear model: the logit difference at the training mean (contributions add up to the rest).
    offset: float | None = None
    #: Images: the saliency maps (H, W) of the error and (K, H, W) of the training samples.
    error_map: np.ndarray | None = field(default=None, repr=False)
    train_maps: np.ndarray | None = field(default=None, repr=False)

    @property
    def exact(self) -> bool:
        return self.method == LINEAR

    def records(self) -> list[dict[str, Any]]:
        """One row per sample (the error first), one column per feature: a heatmap table."""
        rows = [{"sample": f"test {self.test_index} (error)"} | dict(zip(self.features, map(float, self.error)))]
        rows += [{"sample": f"train {i}"} | dict(zip(self.features, map(float, a))) for i, a in zip(self.train_indices, self.train)]
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features), "method": self.method, "pred": self.pred, "true": self.true,
            "test_index": self.test_index, "error": self.error.tolist(), "train_indices": list(self.train_indices),
            "train": self.train.tolist(), "shared": list(self.shared), "sentence": self.sentence, "offset": self.offset,
        }


# --- what the engine fits (module-level: each keys the cache by its name) ------------------------


def fit_logistic_sgd(recipe: Recipe, data: Dataset, seed: int) -> dict[str, np.ndarray]:
    """The default logistic recipe's baseline weights ``theta`` (D + 1, C) for ``seed``: the same
    training as :meth:`LogisticSGDRecipe.fit_predict` on the unedited set (the bias row last)."""
    return {"theta": recipe.baseline_theta(data, seed)}


def fit_sklearn(recipe: Recipe, data: Dataset, seed: int, rows: tuple[int, ...], pred: int, true: int) -> dict[str, np.ndarray]:
    """Attributions of ``rows`` (positions in the training rows followed by the test rows) on the
    seed's fitted scikit-learn model: exact linear contributions where the last step has ``coef_``
    and its inputs map back to the columns, else occlusion (see the module docstring). The model
    is fitted as the recipe fits a member (every ``random_state`` set to the seed; with
    checkpoints, a full ``fit`` stands for the run). Any failure of the user's estimator is one
    :class:`ModelError` line."""
    from ._exceptions import TDAError, reason

    try:
        return _fit_sklearn(recipe, data, seed, rows, pred, true)
    except TDAError:
        raise
    except Exception as exc:  # the user's code: any type, one line
        why = reason(exc) or "it stopped without saying why"
        raise ModelError(f"{recipe.display_name} failed while computing feature attributions: {why}") from exc


def _fit_sklearn(recipe: Recipe, data: Dataset, seed: int, rows: tuple[int, ...], pred: int, true: int) -> dict[str, np.ndarray]:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    model = recipe.seeded(seed).fit(data.X_train, data.y_train)
    X_all = pd.concat([data.X_train, data.X_test], ignore_index=True)
    X_rows = X_all.iloc[list(rows)]
    columns = [str(c) for c in data.X_train.columns]
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    classes = [int(c) for c in getattr(final, "classes_", [])]
    coef = getattr(final, "coef_", None)
    if coef is not None and pred in classes and true in classes and np.ndim(coef) == 2:
        prep = model[:-1] if isinstance(model, Pipeline) else None
        owners = _owners(prep, data.X_train, columns)
        if owners is not None:
            coef = np.asarray(coef, dtype=np.float64)
            if coef.shape[0] == 1:  # binary: one row of weights, for classes_[1] against classes_[0]
                w = coef[0] * (1.0 if classes.index(pred) == 1 else -1.0)
                b = float(np.ravel(final.intercept_)[0]) * (1.0 if classes.index(pred) == 1 else -1.0)
            else:
                w = coef[classes.index(pred)] - coef[classes.index(true)]
                b = float(np.ravel(final.intercept_)[classes.index(pred)] - np.ravel(final.intercept_)[classes.index(true)])
            Z_train = _transform(prep, data.X_train)
            mean = Z_train.mean(axis=0)
            scores = _sum_to_owners((_transform(prep, X_rows) - mean) * w, owners, len(columns))
            return {"scores": scores, "linear": np.ones(1), "offset": np.array([float(mean @ w + b)])}
    return {"scores": occlusion(model.predict_proba, data.X_train, X_rows, classes, pred, true), "linear": np.zeros(1), "offset": np.zeros(1)}


def fit_network(recipe: Recipe, data: Dataset, seed: int) -> dict[str, np.ndarray]:
    """The weights (state dict) of the seed's network: trained in full on the unedited set as
    :meth:`TorchRecipe.fit_start` trains it, or the uploaded weights in head mode."""
    model = recipe.starting_network(data, seed) if recipe.mode == "head" else recipe.baseline_network(data, seed)
    return {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}


# --- the pieces ---------------------------------------------------------------------------------


def _transform(prep: Any, X: Any) -> np.ndarray:
    Z = X if prep is None else prep.transform(X)
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    return np.asarray(Z, dtype=np.float64)


def _owners(prep: Any, X_train: Any, columns: Sequence[str]) -> np.ndarray | None:
    """The original column of each column the linear step sees, or None when it cannot be told
    (then occlusion is used). Reads the fitted column transformer's output names; steps after
    it must keep the number of columns (a scaler)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    n_out = _transform(prep, X_train.iloc[:1]).shape[1]
    if prep is None:
        return np.arange(len(columns)) if n_out == len(columns) else None
    steps = [s for _, s in prep.steps] if isinstance(prep, Pipeline) else [prep]
    found = [i for i, s in enumerate(steps) if isinstance(s, ColumnTransformer)]
    if not found:
        return np.arange(len(columns)) if n_out == len(columns) else None
    owners = column_owners(steps[found[0]], columns)
    return owners if owners is not None and len(owners) == n_out else None


def column_owners(ct: Any, columns: Sequence[str]) -> np.ndarray | None:
    """For a fitted ``ColumnTransformer``: the index in ``columns`` of the input column behind each
    output column (one-hot columns ``colour_red``, ``colour_blue`` belong to ``colour``)."""
    owners: list[int] = []
    for _, trans, cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        names = [columns[int(c)] if isinstance(c, (int, np.integer)) else str(c) for c in np.atleast_1d(cols)] if len(np.atleast_1d(cols)) else []
        if np.asarray(cols).dtype == bool:
            names = [c for c, keep in zip(columns, np.asarray(cols)) if keep]
        if not names:
            continue
        out = list(names) if isinstance(trans, str) else [str(o) for o in trans.get_feature_names_out(names)]
        for k, o in enumerate(out):
            owner: str | None
            if len(names) == 1:
                owner = names[0]
            else:
                matches = [c for c in names if o == c or o.startswith(f"{c}_")]
                owner = max(matches, key=len) if matches else (names[k] if len(out) == len(names) else None)
            if owner is None or owner not in columns:
                return None
            owners.append(list(columns).index(owner))
    return np.asarray(owners, dtype=np.int64)


def _sum_to_owners(contributions: np.ndarray, owners: np.ndarray, n_features: int) -> np.ndarray:
    out = np.zeros((contributions.shape[0], n_features))
    for j, owner in enumerate(owners):
        out[:, owner] += contributions[:, j]
    return out


def typical_values(X_train: Any) -> dict[str, Any]:
    """Each column's training mean (numeric) or most frequent value (anything else)."""
    import pandas as pd

    values: dict[str, Any] = {}
    for c in X_train.columns:
        col = X_train[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values[c] = float(col.mean())
        else:
            mode = col.mode(dropna=True)
            values[c] = mode.iloc[0] if len(mode) else col.iloc[0]
    return values


def occlusion(predict_proba: Any, X_train: Any, X_rows: Any, classes: Sequence[int], pred: int, true: int) -> np.ndarray:
    """(R, F): the logit difference of each row minus that with one column set to its typical
    value (:func:`typical_values`), for every column; one ``predict_proba`` call for all."""
    import pandas as pd

    typical = typical_values(X_train)
    columns = list(X_train.columns)
    blocks = [X_rows]
    for c in columns:
        occluded = X_rows.copy()
        if pd.api.types.is_integer_dtype(occluded[c]):
            occluded[c] = occluded[c].astype(np.float64)
        occluded[c] = typical[c]
        blocks.append(occluded)
    proba = np.asarray(predict_proba(pd.concat(blocks, ignore_index=True)), dtype=np.float64)
    full = np.full((len(proba), max(max(classes, default=0), pred, true) + 1), 1e-12)
    full[:, list(classes)] = np.clip(proba, 1e-12, None)
    logit = np.log(full[:, pred]) - np.log(full[:, true])
    logit = logit.reshape(len(columns) + 1, len(X_rows))
    return (logit[0][None, :] - logit[1:]).T


def linear_contributions(Z_rows: np.ndarray, Z_train: np.ndarray, w: np.ndarray, owners: np.ndarray, n_features: int) -> np.ndarray:
    """(R, F): ``w_j * (z_j - mean_j)`` summed to each column's owner feature."""
    return _sum_to_owners((Z_rows - Z_train.mean(axis=0)) * w, owners, n_features)


def gradient_saliency(network: Any, X: np.ndarray, target: int, device: Any = None) -> np.ndarray:
    """(N, H, W): gradient x input of the ``target`` logit, summed over the channels, per image
    (evaluation mode, so batch norm and dropout treat every image alone)."""
    import torch

    network.eval()
    maps = []
    for start in range(0, len(X), 64):
        x = torch.from_numpy(np.ascontiguousarray(X[start : start + 64], dtype=np.float32))
        if device is not None:
            x = x.to(device)
        x.requires_grad_(True)
        logits = network(x)
        (grad,) = torch.autograd.grad(logits[:, target].sum(), x)
        maps.append((grad * x).sum(dim=1).detach().cpu().numpy())
    return np.concatenate(maps).astype(np.float64)


def region_sums(maps: np.ndarray) -> np.ndarray:
    """(N, 9): each map summed over the regions of a 3 x 3 grid (:data:`REGIONS`)."""
    _, h, w = maps.shape
    rows, cols = np.array_split(np.arange(h), 3), np.array_split(np.arange(w), 3)
    return np.stack([maps[:, r][:, :, c].sum(axis=(1, 2)) for r in rows for c in cols], axis=1)


def shared_features(features: Sequence[str], error: np.ndarray, train: np.ndarray, top: int = TOP_FEATURES) -> list[tuple[str, int]]:
    """The error's largest features (by magnitude, at most ``top``, non-zero) that are also among
    the largest of training samples with the same sign: (feature, how many samples), most shared first."""
    def largest(values: np.ndarray) -> set[int]:
        order = np.argsort(-np.abs(values), kind="stable")[:top]
        return {int(j) for j in order if values[j] != 0}

    counts = []
    for j in sorted(largest(error), key=lambda j: -abs(error[j])):
        n = sum(1 for row in train if j in largest(row) and np.sign(row[j]) == np.sign(error[j]))
        if n:
            counts.append((features[j], n))
    return sorted(counts, key=lambda fc: -fc[1])


def sentence(features: Sequence[str], error: np.ndarray, train: np.ndarray, pred: str, images: bool = False) -> tuple[tuple[str, ...], str]:
    """The shared features and one sentence that names them."""
    shared = shared_features(features, error, train)
    k = len(train)
    what = "regions" if images else "features"
    if k == 0:
        return (), "No training samples to compare with."
    if not shared:
        strongest = [features[j] for j in np.argsort(-np.abs(error), kind="stable")[:TOP_FEATURES] if error[j] != 0]
        return (), (f"The error's strongest {what} ({', '.join(strongest) or 'none'}) are not among the strongest of its "
                    f"top {k} training sample{'s' if k != 1 else ''} with the same sign.")
    parts = []
    for name, n in shared:
        j = list(features).index(name)
        direction = f"toward {pred}" if error[j] > 0 else f"away from {pred}"
        parts.append(f"{name} ({direction}, in {n} of {k})")
    return tuple(n for n, _ in shared), (
        f"The error and its top training sample{'s' if k != 1 else ''} share {_join(parts)}: the same sign and among the "
        f"{TOP_FEATURES} largest {what}."
    )


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _network_on_table(analysis: Analysis, recipe: Any, seed: int, train_indices: tuple[int, ...], test_index: int,
                      pred: int, true: int, features: tuple[str, ...]) -> np.ndarray:
    """(K + 1, F): gradient x centred input of the logit difference, in the preprocessed space
    (centred on the training mean), summed back to the columns."""
    import torch

    from .recipes._preprocessing import tabular_preprocessor

    data = analysis.data
    state = analysis.engine.fitted(data, recipe, seed, fit_network)
    X_train, X_test = recipe.arrays(data)
    network = recipe.build(data.n_classes, X_train.shape[1:], seed)
    network.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    network.eval()
    rows = np.concatenate([X_train[list(train_indices)], X_test[[test_index]]])
    x = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).requires_grad_(True)
    logits = network(x)
    (grad,) = torch.autograd.grad((logits[:, pred] - logits[:, true]).sum(), x)
    centred = rows.astype(np.float64) - X_train.astype(np.float64).mean(axis=0)
    owners = column_owners(tabular_preprocessor().fit(data.X_train), features)
    if owners is None or len(owners) != rows.shape[1]:
        raise ModelError("the columns of the preprocessed table cannot be traced back to the data's columns")
    return _sum_to_owners(grad.detach().numpy().astype(np.float64) * centred, owners, len(features))


# --- the entry point ---------------------------------------------------------------------------


def feature_attribution(
    analysis: Analysis, test_index: int, train_indices: Sequence[int], pred: str | None = None, true: str | None = None,
) -> FeatureAttribution:
    """Attributions toward ``pred`` (default: the baseline ensemble's prediction) of test row
    ``test_index`` and of the training rows ``train_indices``, on member 0's baseline model."""
    from .recipes._logistic import LogisticSGDRecipe
    from .recipes._sklearn_recipe import SklearnRecipe

    data, recipe = analysis.data, analysis.recipe
    test_index = int(test_index)
    if not 0 <= test_index < data.n_test:
        raise UsageError(f"test index {test_index} is out of range: the test set has rows 0..{data.n_test - 1}")
    train_indices = tuple(int(i) for i in train_indices)
    bad = [i for i in train_indices if not 0 <= i < data.n_train]
    if bad:
        raise UsageError(f"training indices {bad} are out of range: the training set has rows 0..{data.n_train - 1}")
    p = data.class_index(pred) if pred is not None else int(analysis.baseline.predicted_test[test_index])
    t = data.class_index(true) if true is not None else int(data.y_test[test_index])
    if p == t:
        raise UsageError(f"test row {test_index} is predicted as its true class {data.classes[t]}: attributions toward the predicted "
                         "class against the true one need an error (or another class named as the prediction)")
    seed = analysis.members[0].seed
    rows = (*train_indices, data.n_train + test_index)  # positions in the training rows followed by the test rows
    error_map = train_maps = None
    offset: float | None = None
    if data.kind == "tabular":
        features = tuple(str(c) for c in data.X_train.columns)
        if isinstance(recipe, LogisticSGDRecipe):
            from .recipes._preprocessing import tabular_preprocessor

            theta = analysis.engine.fitted(data, recipe, seed, fit_logistic_sgd)["theta"]
            prep = tabular_preprocessor().fit(data.X_train)  # unlabelled, as the recipe fits it
            Z_train = _transform(prep, data.X_train)
            owners = column_owners(prep, features)
            if owners is None or len(owners) != Z_train.shape[1]:
                raise ModelError("the columns of the preprocessed table cannot be traced back to the data's columns")
            w, b = theta[:-1, p] - theta[:-1, t], float(theta[-1, p] - theta[-1, t])
            import pandas as pd

            X_rows = pd.concat([data.X_train.iloc[list(train_indices)], data.X_test.iloc[[test_index]]], ignore_index=True)
            scores = linear_contributions(_transform(prep, X_rows), Z_train, w, owners, len(features))
            method, offset = LINEAR, float(Z_train.mean(axis=0) @ w + b)
        elif isinstance(recipe, SklearnRecipe):
            out = analysis.engine.fitted(data, recipe, seed, fit_sklearn, (rows, p, t))
            scores = out["scores"]
            method = LINEAR if out["linear"][0] else OCCLUSION
            offset = float(out["offset"][0]) if out["linear"][0] else None
        else:
            from .recipes.torch._recipe import TorchRecipe

            if not isinstance(recipe, TorchRecipe):
                raise ModelError(f"feature attribution is not available for {recipe.display_name} on tables")
            scores = _network_on_table(analysis, recipe, seed, train_indices, test_index, p, t, features)
            method = CENTRED_GRADIENT
    else:
        from .recipes.torch._recipe import TorchRecipe

        if not isinstance(recipe, TorchRecipe):
            raise ModelError(f"feature attribution on images needs a PyTorch network, not {recipe.display_name}")
        import torch

        state = analysis.engine.fitted(data, recipe, seed, fit_network, trains=not (recipe.mode == "head" and recipe.initial_state is not None))
        X_all = np.concatenate([np.asarray(data.X_train, dtype=np.float32), np.asarray(data.X_test, dtype=np.float32)])
        network = recipe.build(data.n_classes, X_all.shape[1:], seed)
        network.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        maps = gradient_saliency(network, X_all[list(rows)], p)
        scores = region_sums(maps)
        features, method = REGIONS, GRADIENT
        error_map, train_maps = maps[-1], maps[:-1]
    scores = np.asarray(scores, dtype=np.float64)
    error, train = scores[-1], scores[:-1]
    shared, words = sentence(features, error, train, data.classes[p], images=data.kind != "tabular")
    return FeatureAttribution(
        features, method, data.classes[p], data.classes[t], test_index, error, train_indices, train, shared, words,
        offset, error_map, train_maps,
    )
