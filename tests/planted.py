"""Datasets the tests share: a planted cause on real data (flipped labels around one test
sample of breast cancer), and a tiny synthetic image set that networks train on in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tda_core.data import Dataset, tabular_dataset

N_PLANTED = 40


@dataclass(frozen=True)
class Planted:
    data: Dataset
    planted: frozenset[int]  # training indices whose labels were flipped
    target_test: int  # the test sample they surround


def planted_breast_cancer(seed: int = 0) -> Planted:
    """Flip the labels of the 40 training samples of one class nearest to one test sample."""
    raw = load_breast_cancer(as_frame=True)
    frame = raw.frame.rename(columns={"target": "label"})
    frame["label"] = np.where(frame["label"] == 1, "benign", "malignant")
    train, test = train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame["label"])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    features = [c for c in frame.columns if c != "label"]
    scaler = StandardScaler().fit(train[features])
    Xtr, Xte = scaler.transform(train[features]), scaler.transform(test[features])
    # A benign test sample near the class boundary, so that 40 flips can overturn it.
    benign_test = np.flatnonzero(test["label"].to_numpy() == "benign")
    benign_train = np.flatnonzero(train["label"].to_numpy() == "benign")
    malignant_train = np.flatnonzero(train["label"].to_numpy() == "malignant")
    margin = [np.linalg.norm(Xtr[malignant_train] - Xte[t], axis=1).min() for t in benign_test]
    target = int(benign_test[int(np.argmin(margin))])
    distance = np.linalg.norm(Xtr[benign_train] - Xte[target], axis=1)
    planted = benign_train[np.argsort(distance)[:N_PLANTED]]
    train.loc[planted, "label"] = "malignant"
    data = tabular_dataset(train, test, "label", name="planted-breast-cancer")
    return Planted(data, frozenset(int(i) for i in planted), target)


def tiny_images(n_train: int = 30, n_test: int = 15, size: int = 8, seed: int = 0) -> Dataset:
    """Three classes of grayscale ``size`` x ``size`` images in [-1, 1]: a bright left half, a
    bright top half, a bright centre, each with noise, so a small network learns them in a few
    epochs but not perfectly. Built without torchvision, so it costs nothing to load."""
    rng = np.random.default_rng(seed)
    half = size // 2
    patterns = np.full((3, size, size), -0.6, dtype=np.float32)
    patterns[0, :, :half] = 0.6
    patterns[1, :half, :] = 0.6
    patterns[2, size // 4 : size - size // 4, size // 4 : size - size // 4] = 0.6

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n, dtype=np.int64) % 3
        X = patterns[y] + rng.normal(0.0, 0.7, size=(n, size, size)).astype(np.float32)
        return np.clip(X, -1.0, 1.0)[:, None].astype(np.float32), y

    X_train, y_train = split(n_train)
    X_test, y_test = split(n_test)
    thumbs = lambda X: np.repeat(((X[:, 0] + 1) * 127.5).astype(np.uint8)[..., None], 3, axis=-1)  # noqa: E731
    return Dataset(
        name="tiny-images",
        kind="images",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=("left", "top", "centre"),
        train_ids=np.array([f"train/{i}.png" for i in range(n_train)]),
        test_ids=np.array([f"test/{i}.png" for i in range(n_test)]),
        target="class",
        thumbnails_train=thumbs(X_train),
        thumbnails_test=thumbs(X_test),
    )

