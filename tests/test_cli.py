"""The command line: JSON contract, cache reuse, interruption, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cache: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if cache is not None:
        env["TDA_CACHE_DIR"] = str(cache)
    proc = subprocess.run([sys.executable, "-m", "tda_core", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def without_timing(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing"}


ATTRIBUTE = ["attribute", "--demo", "credit", "--group", "bad:good", "--action", "relabel", "--metric", "gt_prob", "--size", "10", "--json"]


def test_attribute_json_contract_and_cache_reuse(tmp_path):
    first = json.loads(cli(*ATTRIBUTE, cache=tmp_path).stdout)
    assert first["data"] == {"kind": "tabular", "n_train": 800, "n_test": 200, "classes": ["bad", "good"]}
    assert first["model"]["ensemble"] == 3
    assert len(first["ranking"]) == 800  # every training sample is scored
    assert first["timing"]["retrains"] == 800 * 3 + 3 + 3  # ranking + baseline + group effect
    assert first["selected"] == [r["train_index"] for r in first["ranking"] if r["p_value"] < 0.05 and r["delta_mean"] > 0][:10]
    effect = first["group_effect"]
    assert effect["train_indices"] == sorted(first["selected"])
    assert effect["delta_mean"] > 0  # relabelling the selected group raises the true-class probability
    assert len(effect["per_test"]) == len(first["group"]["test_indices"])
    second = json.loads(cli(*ATTRIBUTE, cache=tmp_path).stdout)
    assert second["timing"]["retrains"] == 0
    assert second["timing"]["cache_hits"] == first["timing"]["retrains"]
    assert without_timing(second) == without_timing(first)


def test_errors_json_groups_largest_first(tmp_path):
    doc = json.loads(cli("errors", "--demo", "credit", "--json", cache=tmp_path).stdout)
    counts = [g["count"] for g in doc["groups"]]
    assert counts == sorted(counts, reverse=True)
    confusion = np.array(doc["confusion"])
    assert confusion.sum() == 200
    assert confusion.trace() / 200 == pytest.approx(doc["base"]["accuracy_mean"], abs=0.02)
    assert sum(counts) == 200 - confusion.trace()


@pytest.fixture()
def tables(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "colour": rng.choice(["red", "blue"], 60), "y": rng.choice(["a", "b"], 60)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.assign(y="a").to_csv(tmp_path / "one_class.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["errors", "--data", "missing.csv", "--target", "y"], "file not found"),
        (["errors", "--data", "{d}/data.csv", "--target", "label"], "no target column 'label'"),
        (["errors", "--data", "{d}/one_class.csv", "--target", "y"], "single class"),
        (["attribute", "--data", "{d}/data.csv", "--target", "y", "--group", "a:zebra", "--action", "remove", "--metric", "loss", "--size", "3"], "unknown class 'zebra'"),
        (["errors", "--demo", "nope"], "unknown demo"),
        (["errors", "--demo", "credit", "--model", "{d}/model.pkl"], "--trust-code"),
        (["errors", "--demo", "credit", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
        (["errors", "--demo", "credit", "--ensemble", "1"], "--ensemble must be at least 2"),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_2(tables, args, message):
    (tables / "model.pkl").write_bytes(b"not really a pickle")
    proc = cli(*[a.format(d=tables) for a in args], cache=tables / "cache", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_apply_writes_corrected_table_and_manifest(tmp_path):
    out = tmp_path / "fixed"
    cli("apply", "--demo", "credit", "--action", "relabel", "--indices", "3,5", "--out", str(out), cache=tmp_path / "c")
    table = pd.read_csv(out / "train.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(table) == 800 and manifest["action"] == "relabel"
    assert [c["train_index"] for c in manifest["changes"]] == [3, 5]
    for change in manifest["changes"]:
        assert change["new_label"] != change["label"]  # binary: the other class
        assert table.loc[change["train_index"], "credit_risk"] == change["new_label"]
    cli("apply", "--demo", "credit", "--action", "remove", "--indices", "0", "--out", str(out), cache=tmp_path / "c")
    assert len(pd.read_csv(out / "train.csv")) == 799


def _slow_table(path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(240, 4))
    y = np.where(x[:, 0] + 0.5 * rng.normal(size=240) > 0, "yes", "no")
    pd.DataFrame(x, columns=list("abcd")).assign(y=y).to_csv(path, index=False)


def test_interrupted_ranking_resumes_with_only_missing_retrains(tmp_path):
    data = tmp_path / "slow.csv"
    _slow_table(data)
    # Many epochs make each unit of 192 models (one seed) slow enough to kill the run between units.
    args = ["attribute", "--data", str(data), "--target", "y", "--group", "no:yes", "--action", "remove",
            "--metric", "loss", "--size", "5", "--epochs", "600", "--json"]
    reference = json.loads(cli(*args, cache=tmp_path / "reference").stdout)
    total = reference["timing"]["retrains"]

    cache = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TDA_CACHE_DIR=str(cache))
    proc = subprocess.Popen([sys.executable, "-m", "tda_core", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # Units: 3 baseline seeds, then 3 ranking seeds of 192 models each; kill after the first ranking unit.
    while len(list(cache.rglob("output.pkl"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_units = len(list(cache.rglob("output.pkl")))
    assert 4 <= finished_units < 6, "the run should be killed midway through the ranking"

    resumed = json.loads(cli(*args, cache=cache).stdout)
    assert resumed["timing"]["cache_hits"] > 0
    assert resumed["timing"]["retrains"] + resumed["timing"]["cache_hits"] == total
    assert resumed["timing"]["retrains"] < total
    assert without_timing(resumed) == without_timing(reference)


def test_unreadable_cache_entry_is_recomputed(tmp_path):
    args = ["errors", "--demo", "credit", "--json"]
    first = json.loads(cli(*args, cache=tmp_path).stdout)
    for entry in tmp_path.rglob("output.pkl"):
        entry.write_bytes(b"\x00garbage")
    proc = cli(*args, cache=tmp_path)
    assert json.loads(proc.stdout) == first
    assert "Traceback" not in proc.stderr


def test_skops_model_is_used_as_the_training_recipe(tmp_path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from tda_core.models import tabular_preprocessor

    path = tmp_path / "forest.skops"
    sio.dump(make_pipeline(tabular_preprocessor(), RandomForestClassifier(n_estimators=5, random_state=0)), path)
    proc = cli("errors", "--demo", "credit", "--model", str(path), "--json", cache=tmp_path / "c", check=False)
    if proc.returncode == 2:  # types outside skops' default trust list: refused with a clear line
        assert proc.stderr.startswith("error: ") and "--trust-code" in proc.stderr
        proc = cli("errors", "--demo", "credit", "--model", str(path), "--trust-code", "--json", cache=tmp_path / "c")
    doc = json.loads(proc.stdout)
    assert "RandomForestClassifier" in doc["model"]["name"]
    assert 0.5 < doc["base"]["accuracy_mean"] < 1.0
    assert doc["base"]["accuracy_std"] > 0  # members differ by random_state seeds
