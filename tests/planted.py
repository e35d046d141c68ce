"""A planted cause on real data: flipped labels around one test sample (breast cancer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
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
