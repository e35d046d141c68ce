"""The command line: the JSON contract, cache reuse across processes, checks before training,
one clear error line, and no torch for tables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import run

from tda_core.cli._commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTE = ["attribute", "--demo", "credit", "--group", "bad:good", "--action", "relabel", "--metric", "gt_prob", "--size", "10"]


def subprocess_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TDA_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "tda_core", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def only_error_line(err: str) -> str:
    """The one ``error:`` line, last on stderr; any line before it is engine progress."""
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), err
    assert all(re.fullmatch(r"[\w ]+: \d+/\d+ models \(\d+ cached\), .*", line) for line in lines[:-1]), err
    return lines[-1]


def without_timing(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing"}


def test_attribute_json_contract_and_cache_reuse_across_processes(tmp_path, capsys):
    code, out, _ = run(*ATTRIBUTE, "--json", cache=tmp_path, capsys=capsys)
    assert code == 0
    first = json.loads(out)
    assert first["data"] == {"kind": "tabular", "n_train": 700, "n_test": 200, "classes": ["bad", "good"], "n_pool": 100}
    assert first["model"] == {"name": "logistic-sgd", "ensemble": 3, "requested_ensemble": 3, "independent_runs": 3, "deterministic": False}
    assert (first["action"], first["metric"], first["unit"], first["size"], first["alpha"]) == ("relabel", "gt_prob", "sample", 10, 0.05)
    assert len(first["ranking"]) == 700  # every training sample is scored
    row = first["ranking"][0]
    assert set(row) == {"train_index", "train_id", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"}
    assert first["selected"] == [r["train_index"] for r in first["ranking"] if r["p_value"] < 0.05 and r["delta_mean"] > 0][:10]
    assert len(first["selected"]) == 10
    # Reliability, determinism and warnings travel with the numbers.
    assert 0 < first["reliability"] <= 1 and first["reliability_verdict"].split(":")[0] in ("high", "moderate", "uncertain", "low")
    low, high = first["reliability_interval"]
    assert low <= first["reliability"] <= high <= 1 and first["reliability_method"].startswith("split-half")
    assert first["deterministic"] is False and isinstance(first["warnings"], list)
    effect = first["group_effect"]
    assert effect["train_indices"] == sorted(first["selected"])
    assert effect["delta_mean"] > 0  # relabelling the selected group raises the true-class probability
    assert effect["net_benefit"] == effect["errors_fixed"] - effect["errors_new"]
    assert 0 <= effect["errors_fixed"] <= len(first["group"]["test_indices"]) and effect["errors_new"] >= 0
    assert len(effect["per_test"]) == len(first["group"]["test_indices"])
    assert first["estimates"] is None
    assert first["timing"]["retrains"] == 3 + 700 * 3 + 3  # baseline, ranking, group effect
    assert first["timing"]["cache_hits"] == 0
    # Another process, the same cache: nothing is trained again, and the answer is the same.
    proc = subprocess_cli(*ATTRIBUTE, "--json", "--cache-dir", str(tmp_path), cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    second = json.loads(proc.stdout)
    assert second["timing"]["retrains"] == 0
    assert second["timing"]["cache_hits"] == first["timing"]["retrains"]
    assert without_timing(second) == without_timing(first)


def test_attribute_prints_a_readable_report(tmp_path, capsys):
    code, out, err = run(*ATTRIBUTE, "--epochs", "3", cache=tmp_path, capsys=capsys)
    assert code == 0 and "error" not in err
    lines = out.splitlines()
    assert re.fullmatch(r"group bad -> good: \d+ test samples; action relabel, metric gt_prob, unit sample", lines[0])
    assert any(re.fullmatch(r"reliability of the ranking: [\d.]+, a rerun between -?[\d.]+ and [\d.]+ \(\w+: .+\)", line)
               for line in lines), lines
    assert "top of the ranking (retrained; * = selected):" in lines
    assert lines[-1].endswith("from the cache") and " models trained, " in lines[-1]


def test_tests_narrow_the_group(tmp_path, capsys):
    code, out, _ = run("errors", "--demo", "credit", "--json", cache=tmp_path, capsys=capsys)
    group = next(g for g in json.loads(out)["groups"] if (g["true"], g["pred"]) == ("bad", "good"))
    chosen = group["test_indices"][1:3]
    code, out, _ = run(*ATTRIBUTE, "--tests", ",".join(map(str, chosen)), "--json", cache=tmp_path, capsys=capsys)
    assert code == 0 and json.loads(out)["group"]["test_indices"] == chosen
    outside = next(i for i in range(200) if i not in group["test_indices"])
    code, _, err = run(*ATTRIBUTE, "--tests", str(outside), cache=tmp_path, capsys=capsys)
    assert code == 2 and only_error_line(err) == f"error: test samples [{outside}] are not in the error group bad -> good"


def test_the_printed_accuracy_is_the_one_the_error_count_gives(tmp_path, capsys):
    code, out, _ = run("errors", "--demo", "credit", cache=tmp_path, capsys=capsys)
    assert code == 0 and "test accuracy 0.770 (46 errors of 200; members 0.772 +- 0.003)" in out.splitlines()


def test_errors_json_groups_largest_first(tmp_path):
    proc = subprocess_cli("errors", "--demo", "credit", "--json", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    counts = [g["count"] for g in doc["groups"]]
    assert counts == sorted(counts, reverse=True)
    confusion = np.array(doc["confusion"])
    assert confusion.sum() == 200
    assert sum(counts) == 200 - confusion.trace()
    # One accuracy: the ensemble's mean prediction, which decides the errors (credit: 46 of 200).
    assert doc["base"]["accuracy"] == confusion.trace() / 200 == 1 - doc["base"]["n_errors"] / 200
    assert doc["base"]["n_errors"] == sum(counts) == 46 and doc["base"]["accuracy"] == 0.77
    assert doc["base"]["accuracy_mean"] == pytest.approx(0.7717, abs=1e-4)  # the members' own, kept beside it
    assert doc["timing"]["retrains"] == 3
    # Progress goes to stderr, one line when not on a terminal.
    assert proc.stderr == "baseline: 3/3 models (0 cached), " + proc.stderr.split(", ", 1)[1]
    assert proc.stderr.count("\n") == 1


def test_the_credit_demo_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "import tda_core\n"
        "assert 'torch' not in sys.modules, 'import tda_core'\n"
        "from tda_core.cli import main\n"
        f"assert main(['errors', '--demo', 'credit', '--json', '--cache-dir', {str(tmp_path)!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'errors --demo credit'\n"
        "assert 'torchvision' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"]["name"] == "logistic-sgd"


@pytest.fixture()
def tables(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "colour": rng.choice(["red", "blue"], 60), "y": rng.choice(["a", "b"], 60)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.assign(y="a").to_csv(tmp_path / "one_class.csv", index=False)
    (tmp_path / "model.pkl").write_bytes(b"not really a pickle")
    return tmp_path


ON_CREDIT = ["attribute", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric", "loss"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["errors", "--data", "missing.csv", "--target", "y"], "error: missing.csv: file not found"),
        (["errors", "--data", "{d}/data.csv", "--target", "label"], "no target column 'label'"),
        (["errors", "--data", "{d}/data.csv"], "error: tables need --target COLUMN"),
        (["errors", "--data", "{d}/one_class.csv", "--target", "y"], "single class"),
        (["errors", "--demo", "credit", "--data", "{d}/data.csv"], "give exactly one data source"),
        (["errors", "--demo", "nope"], "error: unknown demo 'nope': choose one of credit, digits, census"),
        (["errors", "--demo", "credit", "--model", "{d}/model.pkl"], "model.pkl: .pkl files run code when loaded"),
        (["errors", "--demo", "credit", "--backend", "spark"], "unknown backend 'spark'"),
        (["errors", "--demo", "credit", "--n-jobs", "-2"], "error: the number of parallel jobs must lie between 1 and the"),
        (["errors", "--demo", "credit", "--ensemble", "0"], "error: the ensemble needs at least one member, not 0"),
        (["errors", "--demo", "credit", "--epochs", "0"], "error: the number of epochs must lie between 1 and 10,000, not 0"),
        (["attribute", "--data", "{d}/data.csv", "--target", "y", "--group", "a:zebra", "--action", "remove",
          "--metric", "loss", "--size", "3"], "error: unknown class 'zebra' in --group: the classes are a, b"),
        ([*ON_CREDIT, "--group", "bad-good", "--size", "3"], "error: --group must be TRUE:PRED (e.g. bad:good), not 'bad-good'"),
        ([*ON_CREDIT, "--size", "0"], "error: the group size must be at least 1, not 0"),
        ([*ON_CREDIT, "--size", "3", "--alpha", "2"], "error: the significance level alpha must lie between 0 and 1, not 2.0"),
        ([*ON_CREDIT, "--size", "3", "--candidates", "0"], "error: the number of candidates must be at least 1, not 0"),
        ([*ON_CREDIT, "--size", "3", "--tests", "x"], "argument --tests: expected comma-separated integers, got 'x'"),
        (["attribute", "--demo", "credit", "--group", "bad:good", "--action", "delete", "--metric", "loss", "--size", "3"],
         "argument --action: invalid choice: 'delete'"),
        (["apply", "--demo", "credit", "--action", "remove", "--indices", "700", "--out", "{d}/out"],
         "error: training indices [700] are out of range: the training set has rows 0..699"),
        (["apply", "--demo", "credit", "--action", "add", "--indices", "100", "--out", "{d}/out"],
         "error: pool indices [100] are out of range: the pool set has rows 0..99"),
        (["attribute", "--data", "{d}/data.csv", "--target", "y", "--group", "a:b", "--action", "add", "--metric", "loss", "--size", "3"],
         "error: add needs a pool: labelled samples outside the training set"),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_2_before_training(tables, args, message, capsys):
    cache = tables / "cache"
    code, out, err = run(*[a.format(d=tables) for a in args], cache=cache, capsys=capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "Traceback" not in err and "--cache-dir" not in lines[0]
    assert not cache.exists()  # refused before anything was trained


def test_a_real_process_exits_2_with_one_line(tmp_path):
    proc = subprocess_cli(*ON_CREDIT, "--size", "0", cache=tmp_path / "cache")
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "error: the group size must be at least 1, not 0\n")
    assert not (tmp_path / "cache").exists()


def test_an_ensemble_of_one(tmp_path, capsys):
    code, out, err = run("errors", "--demo", "credit", "--recipe", "logistic-lbfgs", "--ensemble", "1", "--json",
                         cache=tmp_path, capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"] == {"name": "logistic-lbfgs", "ensemble": 1, "requested_ensemble": 1, "independent_runs": 1, "deterministic": True}
    # One model: the optimum, a start no seed changes; the second member that tells determinism reuses it.
    assert doc["timing"]["retrains"] == 1
    code, out, err = run("errors", "--demo", "credit", "--ensemble", "1", cache=tmp_path, capsys=capsys)
    assert code == 2 and out == ""
    assert only_error_line(err) == ("error: logistic-sgd depends on its seed, so one member cannot tell its effects from "
                                    "training noise: use an ensemble of at least 2 members (3 or more is better)")


def test_deterministic_attribution_has_no_p_values(tables, capsys):
    data = ["--data", str(tables / "data.csv"), "--target", "y", "--recipe", "logistic-lbfgs"]
    code, out, err = run("errors", *data, "--json", cache=tables / "c", capsys=capsys)
    largest = json.loads(out)["groups"][0]
    code, out, err = run("attribute", *data, "--group", f"{largest['true']}:{largest['pred']}", "--action", "remove",
                         "--metric", "loss", "--size", "2", "--json", cache=tables / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["deterministic"] is True and doc["model"]["ensemble"] == 1
    assert doc["deterministic"] is True and doc["reliability"] == 1.0
    assert all(r["p_value"] is None and r["delta_std"] == 0.0 for r in doc["ranking"])
    assert doc["warnings"][0].startswith("Deterministic model")
    n_train = doc["data"]["n_train"]
    assert n_train == 48 and len(doc["ranking"]) == n_train
    # One model per edit, not one per member; the baseline (its optimum, one model) came from the cache.
    assert doc["timing"]["retrains"] == n_train + (1 if doc["selected"] else 0)
    assert doc["timing"]["cache_hits"] == 1


def test_candidate_groups(tmp_path, capsys):
    code, out, err = run(*ON_CREDIT, "--size", "20", "--unit", "group", "--json", cache=tmp_path, capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["unit"] == "group" and doc["size"] == 20
    kinds = {r["kind"] for r in doc["ranking"]}
    assert kinds == {"neighbours", "cluster"}
    for row in doc["ranking"]:
        assert {"group_id", "kind", "train_indices", "description", "delta_mean", "delta_std", "p_value"} <= set(row)
        assert 1 <= len(row["train_indices"]) <= 20 and all(0 <= i < 700 for i in row["train_indices"])
    assert len({tuple(r["train_indices"]) for r in doc["ranking"]}) == len(doc["ranking"])  # deduplicated
    # The groups nearest the errors in the good class help most; the best one is acted on whole.
    best = doc["ranking"][0]
    assert best["group_id"].startswith("near-good-") and (best["kind"], len(best["train_indices"])) == ("neighbours", 20)
    assert best["p_value"] < 0.05 and best["delta_mean"] < 0
    assert doc["selected"] == best["train_indices"] == doc["group_effect"]["train_indices"]
    assert doc["group_effect"]["delta_mean"] == pytest.approx(best["delta_mean"], abs=1e-12)  # measured already, not retrained
    assert doc["group_effect"]["net_benefit"] == doc["group_effect"]["errors_fixed"] - doc["group_effect"]["errors_new"]
    n_groups = len(doc["ranking"])
    assert doc["timing"]["retrains"] == 3 + 3 * n_groups  # each group retrained whole; its effect comes free


def test_apply_writes_corrected_table_and_manifest(tmp_path, capsys):
    out = tmp_path / "fixed"
    code, printed, _ = run("apply", "--demo", "credit", "--action", "relabel", "--indices", "3,5", "--out", str(out),
                           "--reason", "checked by hand", cache=tmp_path / "c", capsys=capsys)
    assert code == 0 and printed == f"wrote {out / 'train.csv'} (700 rows) and {out / 'manifest.json'}\n"
    table = pd.read_csv(out / "train.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(table) == 700 and manifest["action"] == "relabel" and manifest["reason"] == "checked by hand"
    assert [c["train_index"] for c in manifest["changes"]] == [3, 5]
    for change in manifest["changes"]:
        assert {change["label"], change["new_label"]} == {"good", "bad"}  # binary: the other class
        assert table.loc[change["train_index"], "credit_risk"] == change["new_label"]
    # Existing outputs are replaced only with --force; removal needs no baseline: nothing is trained.
    code, _, err = run("apply", "--demo", "credit", "--action", "remove", "--indices", "0", "--out", str(out),
                       cache=tmp_path / "c2", capsys=capsys)
    assert code == 2 and err == f"error: --out {out / 'train.csv'} exists; pass --force to replace it, or give another name\n"
    code, _, _ = run("apply", "--demo", "credit", "--action", "remove", "--indices", "0", "--out", str(out), "--force",
                     cache=tmp_path / "c2", capsys=capsys)
    assert code == 0 and len(pd.read_csv(out / "train.csv")) == 699
    assert not (tmp_path / "c2").exists()


def test_unreadable_cache_entries_are_recomputed(tmp_path, capsys):
    args = ["errors", "--demo", "credit", "--json"]
    first = json.loads(run(*args, cache=tmp_path, capsys=capsys)[1])
    entries = list(tmp_path.rglob("*.safetensors"))
    assert len(entries) == 3
    for entry in entries:
        entry.write_bytes(b"\x00garbage")
    code, out, err = run(*args, cache=tmp_path, capsys=capsys)
    second = json.loads(out)
    assert code == 0 and "Traceback" not in err
    assert without_timing(second) == without_timing(first)
    assert (second["timing"]["retrains"], second["timing"]["cache_hits"]) == (3, 0)


def test_no_cache_leaves_no_files(tmp_path, capsys):
    code, _, _ = run("errors", "--demo", "credit", "--no-cache", "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0 and not (tmp_path / "c").exists()


def test_skops_model_is_used_as_the_training_recipe(tmp_path, capsys):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from tda_core.recipes._preprocessing import tabular_preprocessor

    path = tmp_path / "forest.skops"
    sio.dump(make_pipeline(tabular_preprocessor(), RandomForestClassifier(n_estimators=5, random_state=0)), path)
    # The standard preprocessing holds types outside skops' default trust list: refused until trusted.
    code, out, err = run("errors", "--demo", "credit", "--model", str(path), "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: forest.skops holds types that are not trusted by default") and err.count("\n") == 1
    code, out, err = run("errors", "--demo", "credit", "--model", str(path), "--trust-code", "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["name"] == "RandomForestClassifier (forest.skops)"
    assert 0.5 < doc["base"]["accuracy_mean"] < 1.0
    assert doc["base"]["accuracy_std"] > 0  # members differ by random_state seeds


def test_demos_and_an_interruption(tmp_path, capsys, monkeypatch):
    code, out, _ = run("demos", cache=tmp_path, capsys=capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["credit", "digits", "census"]

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(COMMANDS, "errors", interrupted)
    code, _, err = run("errors", "--demo", "credit", cache=tmp_path, capsys=capsys)
    assert code == 130 and err == "error: interrupted; finished retrains are cached, rerun to continue\n"


@pytest.mark.slow
def test_network_members_are_seeds_or_checkpoints(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 6)):
        for c, name in enumerate(("dark", "light")):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.normal(60 + 130 * c, 50, size=(12, 12)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    base = ["errors", "--images", str(tmp_path / "images"), "--epochs", "3", "--json"]
    code, out, err = run(*base, cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    seeds = json.loads(out)["model"]
    assert (seeds["name"], seeds["ensemble"], seeds["independent_runs"], seeds["deterministic"]) == ("small_cnn-full", 3, 3, False)
    code, out, err = run(*base, "--members", "checkpoints", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["name"] == "small_cnn-full, checkpoints of one run"
    assert (doc["model"]["ensemble"], doc["model"]["independent_runs"]) == (3, 1)  # epochs 1-3 of seed 0
    assert doc["timing"]["retrains"] == 2  # seed 0 (three checkpoints), and seed 1 to tell determinism


def test_apply_keeps_columns_named_like_its_own(tmp_path, capsys):
    """Columns named row_id, sample_weight, label and weight (the target) come back unchanged."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"row_id": rng.permutation(60) + 1000, "sample_weight": rng.normal(size=60).round(3),
                          "label": rng.choice(["u", "v"], 60), "weight": rng.choice(["p", "q"], 60)})
    frame.iloc[:48].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[48:].to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "fixed"
    code, _, err = run("apply", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), "--target", "weight",
                       "--action", "upweight", "--indices", "2,4", "--out", str(out), cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    table = pd.read_csv(out / "train.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(table.columns) == ["tda_row_id", "row_id", "sample_weight", "label", "weight", "tda_sample_weight"]
    pd.testing.assert_frame_equal(table[list(frame.columns)], frame.iloc[:48].reset_index(drop=True))
    assert table["tda_row_id"].tolist() == list(range(48))
    assert table["tda_sample_weight"].tolist() == [10.0 if i in (2, 4) else 1.0 for i in range(48)]
    assert manifest["columns"] == {"row_id": "tda_row_id", "sample_weight": "tda_sample_weight", "target": "weight",
                                   "order": ["row_id", "sample_weight", "label", "weight"]}


@pytest.mark.slow
def test_a_torchvision_resnet18_state_dict_through_the_command_line(tmp_path):
    """Issue 14, item 5 end to end: torchvision's own ResNet-18 state dict, colour pictures at a
    reduced --image-size, errors and a head-mode attribution, on the CPU."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from tda_core.data._images import load_images
    from tda_core.recipes.torch._networks import image_input

    root = tmp_path / "colours"
    for c, hue in enumerate(np.linspace(0, 1, 4, endpoint=False)):
        for split, count in (("train", 8), ("test", 5)):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(count):
                rng = np.random.default_rng(100 * c + i + (50 if split == "test" else 0))
                rgb = np.clip(np.array([hue, 1 - hue, 0.5]) * 255 + rng.normal(0, 60, (40, 40, 3)), 0, 255)
                from PIL import Image

                Image.fromarray(rgb.astype(np.uint8), "RGB").save(root / split / f"c{c}" / f"{i}.png")
    torch.manual_seed(3)
    network = torchvision.models.resnet18(num_classes=4)
    save_file(network.state_dict(), str(tmp_path / "r18.safetensors"))
    common = ["--images", str(root), "--model", str(tmp_path / "r18.safetensors"), "--arch", "resnet18", "--image-size", "32",
              "--mode", "head", "--ensemble", "2", "--device", "cpu", "--json"]
    proc = subprocess_cli("errors", *common, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    errors = json.loads(proc.stdout)
    assert errors["data"]["n_train"] == 32 and errors["model"]["name"] == "resnet18-r18"
    # The baseline ensemble's features come from the loaded network itself: before any head is
    # trained, the network's own predictions on the same inputs are what torchvision computes.
    data = load_images(root, image_input=image_input("resnet18", 32))
    assert data.X_train.shape[1:] == (3, 32, 32)
    group = errors["groups"][0]
    proc = subprocess_cli("attribute", *common, "--group", f"{group['true']}:{group['pred']}", "--action", "remove",
                          "--metric", "loss", "--size", "3", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["ranking"]) == 32 and doc["reliability"] is not None
    assert doc["timing"]["retrains"] == 2 * 32 + 2  # heads per seed; the features come from the weights, not trained


def test_image_options_are_checked_in_words(tmp_path):
    bad_size = subprocess_cli("errors", "--demo", "digits", "--image-size", "4", cache=tmp_path)
    assert bad_size.returncode == 2 and bad_size.stderr.startswith("error: the image size must be")
    table = subprocess_cli("errors", "--demo", "credit", "--image-size", "64", cache=tmp_path)
    assert table.returncode == 2 and "applies to images" in table.stderr


def test_apply_replays_a_manifest_byte_identically(tmp_path, capsys):
    """export -> import: the CSV that apply --manifest writes is the exported one, byte for byte,
    for every action and for hand edits; a manifest of other data is refused in words."""
    from tda_core._fix import hand_edited_training_set
    from tda_core.data import load_demo

    cache = tmp_path / "c"
    exports = {}
    for action, indices in (("remove", "0,7"), ("relabel", "3,5"), ("upweight", "2")):
        out = tmp_path / action
        assert run("apply", "--demo", "credit", "--action", action, "--indices", indices, "--out", str(out), cache=cache, capsys=capsys)[0] == 0
        exports[action] = out
    table, manifest = hand_edited_training_set(load_demo("credit"), remove=[1], labels={4: "bad", 6: "good"})
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "train.csv").write_text(table.to_csv(index=False), encoding="utf-8")
    (tmp_path / "hand" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    exports["hand"] = tmp_path / "hand"
    for name, folder in exports.items():
        again = tmp_path / f"{name}-again"
        code, _, err = run("apply", "--demo", "credit", "--manifest", str(folder / "manifest.json"), "--out", str(again),
                                 cache=cache, capsys=capsys)
        assert code == 0, err
        assert (again / "train.csv").read_bytes() == (folder / "train.csv").read_bytes(), name
        replayed = json.loads((again / "manifest.json").read_text())
        assert replayed["changes"] == json.loads((folder / "manifest.json").read_text())["changes"]
    # The manifest of another dataset is refused before anything is written.
    code, _, err = run("apply", "--data", str(ROOT / "tests" / "missing.csv"), "--target", "x", "--manifest",
                       str(exports["remove"] / "manifest.json"), "--out", str(tmp_path / "x"), cache=cache, capsys=capsys)
    assert code == 2
    other = tmp_path / "other.csv"
    load_demo("credit").X_train.assign(credit_risk=load_demo("credit").y_train).to_csv(other, index=False)
    code, _, err = run("apply", "--data", str(other), "--target", "credit_risk", "--manifest", str(exports["remove"] / "manifest.json"),
                       "--out", str(tmp_path / "x"), cache=cache, capsys=capsys)
    assert code == 2 and "the manifest was made for other data (credit): its data fingerprint does not match" in only_error_line(err)
    assert not (tmp_path / "x").exists()
    code, _, err = run("apply", "--demo", "credit", "--manifest", str(exports["remove"] / "manifest.json"), "--action", "remove",
                       "--out", str(tmp_path / "x"), cache=cache, capsys=capsys)
    assert code == 2 and only_error_line(err) == "error: give either --manifest or --action with --indices, not both"
    code, _, err = run("apply", "--demo", "credit", "--out", str(tmp_path / "x"), cache=cache, capsys=capsys)
    assert code == 2 and only_error_line(err) == "error: apply needs --action and --indices, or --manifest FILE"


def test_report_writes_one_offline_html_file_without_torch(tmp_path):
    out = tmp_path / "reports" / "triage.html"
    code = (
        "import sys\n"
        "from tda_core.cli import main\n"
        f"assert main(['report', '--demo', 'credit', '--group', 'bad:good', '--action', 'remove', '--metric', 'loss', "
        f"'--size', '5', '--out', {str(out)!r}, '--cache-dir', {str(tmp_path / 'c')!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'report --demo credit'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (") and "bad -> good, remove / loss" in proc.stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Feature attributions" in page and "Group effect" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:)""", page)


def test_report_out_must_be_a_file(tmp_path, capsys):
    code, _, err = run("report", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric", "loss", "--size", "5",
                       "--out", str(tmp_path), cache=tmp_path / "c", capsys=capsys)
    assert code == 2 and only_error_line(err) == f"error: --out {tmp_path} must be a file name, such as triage.html"
    code, _, err = run("report", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric", "loss", "--size", "5",
                       cache=tmp_path / "c", capsys=capsys)
    assert code == 2 and "--out" in only_error_line(err)
