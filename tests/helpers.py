"""Builders several test modules share: breast-cancer splits, the tightly converged lbfgs
pipeline that brute-force checks retrain, and ZIP archives built in memory. conftest.py
wraps them in fixtures; a test that needs another size or setting calls them directly."""

from __future__ import annotations

import io
import zipfile
from functools import cache

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tda_core.data import Dataset, tabular_dataset


@cache
def _breast_cancer_frame() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})


def breast_cancer(n_train: int, n_test: int, seed: int) -> Dataset:
    """A stratified ``n_train`` / ``n_test`` split of breast cancer (30 numeric features, label
    0 or 1), named ``cancer-<n_train>``."""
    frame = _breast_cancer_frame()
    train, test = train_test_split(frame, train_size=n_train, test_size=n_test, random_state=seed, stratify=frame["label"])
    return tabular_dataset(train, test, "label", name=f"cancer-{n_train}")


def lbfgs(**params: object) -> Pipeline:
    """Scaler and lbfgs logistic regression, converged to ``tol=1e-10`` so that a retrain by hand
    matches the engine's; ``params`` override ``LogisticRegression``'s."""
    return make_pipeline(StandardScaler(), LogisticRegression(**({"tol": 1e-10, "max_iter": 5000} | params)))


def make_zip(files: dict[str, bytes], infos: dict[str, zipfile.ZipInfo] | None = None) -> bytes:
    """A deflated ZIP of ``files`` (path in the archive -> content); ``infos`` gives some paths
    their own ``ZipInfo`` (a symbolic link's mode, say)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = (infos or {}).get(name) or zipfile.ZipInfo(name)
            archive.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
