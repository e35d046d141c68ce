"""Issue 19, "No data lost", as a hostile corpus: every case the issue found, and the next ones a
careful attacker would try, through the command line.

Writing cases are checked by hash: every file of the folder holds the same bytes afterwards
(and /dev/null is still a device). Every refusal is one ``error:`` line in words, exit 2,
nothing on stdout, and nothing trained (the run's cache folder is never made)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_hostile import run

from tda_core import UsageError, cli
from tda_core.cli._arguments import parse_group
from tda_core.cli._commands import COMMANDS

N = 60


def hashes(root: Path) -> dict[str, str]:
    """The SHA-256 of every regular file below ``root`` (links not followed), and every link's target."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path)] = f"link -> {os.readlink(path)}"
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _table(rng: np.random.Generator, n: int, classes: list[str]) -> pd.DataFrame:
    """Noise features and random labels: every model errs both ways. The target sits in the middle."""
    return pd.DataFrame({"x": rng.normal(size=n).round(3), "y": rng.choice(classes, n), "c": rng.choice(["r", "g"], n)})


@pytest.fixture()
def d(tmp_path: Path) -> Path:
    """A user's folder: train/test/pool tables, a symlink to their folder, an image folder and
    archive, model files, and an export (manifest and table) made by ``apply``."""
    rng = np.random.default_rng(0)
    (tmp_path / "data").mkdir()
    _table(rng, N, ["a", "b"]).to_csv(tmp_path / "data" / "train.csv", index=False)
    _table(rng, 20, ["a", "b"]).to_csv(tmp_path / "data" / "test.csv", index=False)
    _table(rng, 10, ["a", "b"]).to_csv(tmp_path / "data" / "pool.csv", index=False)
    (tmp_path / "pooldir").mkdir()
    _table(rng, 10, ["a", "b"]).to_csv(tmp_path / "pooldir" / "train.csv", index=False)
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)
    for split in ("train/a", "train/b", "test/a", "test/b"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "images" / split / "0.png").write_bytes(b"\x89PNG not decoded: refused before reading")
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        archive.writestr("train/a/0.png", b"\x89PNG")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.skops").write_bytes(b"PK skops archive")
    (tmp_path / "existing.html").write_text("<p>yesterday's report</p>")
    os.link(tmp_path / "data" / "train.csv", tmp_path / "hard.csv")
    (tmp_path / "alias.html").symlink_to(tmp_path / "data" / "train.csv")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    m1 = tmp_path / "out" / "m1"
    code = cli.main(["apply", "--demo", "credit", "--action", "remove", "--indices", "3", "--out", str(m1), "--no-cache"])
    assert code == 0
    return tmp_path


TABLE = ["--train", "{d}/data/train.csv", "--test", "{d}/data/test.csv", "--target", "y"]
REQUEST = ["--group", "a:b", "--action", "remove", "--metric", "loss", "--size", "3"]
REPORT = ["report", *TABLE, *REQUEST]
APPLY = ["apply", *TABLE, "--action", "remove", "--indices", "1"]
INPUT = r"error: --out .* would overwrite the input "
NEVER = r"; give another name \(inputs are never written, even with --force\)$"

WRITES = {
    # the cases: each wrote over an input and exited 0
    "report --out DIR/../DIR/train.csv": ([*REPORT, "--out", "{d}/data/../data/train.csv"], INPUT + r"--train .*/data/train\.csv" + NEVER),
    "report --out through a symlinked folder": ([*REPORT, "--out", "{d}/link/test.csv"], INPUT + r"--test .*/data/test\.csv" + NEVER),
    "report --pool P --out P": ([*REPORT, "--pool", "{d}/data/pool.csv", "--out", "{d}/data/pool.csv"], INPUT + r"--pool .*pool\.csv"),
    "report --images X.zip --out X.zip": (["report", "--images", "{d}/images.zip", *REQUEST, "--out", "{d}/images.zip"],
                                          INPUT + r"--images .*images\.zip"),
    "apply --out the input's folder": ([*APPLY, "--out", "{d}/data"], INPUT + r"--train .*data/train\.csv" + NEVER),
    "apply --out the input's folder via ..": ([*APPLY, "--out", "{d}/data/../data"], INPUT + r"--train .*data/train\.csv"),
    "apply --out the input's folder via a symlink": ([*APPLY, "--out", "{d}/link"], INPUT + r"--train .*data/train\.csv"),
    "apply --pool dir/train.csv --action add --out dir": (
        ["apply", *TABLE, "--pool", "{d}/pooldir/train.csv", "--action", "add", "--indices", "1", "--out", "{d}/pooldir"],
        INPUT + r"--pool .*pooldir/train\.csv"),
    "apply --manifest out/m1/manifest.json --out out/m1": (
        ["apply", "--demo", "credit", "--manifest", "{d}/out/m1/manifest.json", "--out", "{d}/out/m1"], INPUT + r"--manifest .*m1/manifest\.json"),
    "report --out /dev/null": ([*REPORT, "--out", "/dev/null"], r"error: --out /dev/null exists and is a device, not a regular file; give a file name$"),
    # what a careful attacker tries next
    "--force never writes over an input": ([*APPLY, "--out", "{d}/data", "--force"], INPUT + r"--train .*data/train\.csv" + NEVER),
    "a hard link to the input, with --force": ([*REPORT, "--out", "{d}/hard.csv", "--force"], INPUT + r"--train .*data/train\.csv" + NEVER),
    "a symlinked file that points at the input, with --force": ([*REPORT, "--out", "{d}/alias.html", "--force"], INPUT + r"--train "),
    "a FIFO as --out (never opened: no hang)": ([*REPORT, "--out", "{d}/fifo", "--force"],
                                                r"error: --out .*fifo exists and is a FIFO \(named pipe\), not a regular file"),
    "/dev/null with --force": ([*REPORT, "--out", "/dev/null", "--force"], r"error: --out /dev/null exists and is a device"),
    "a report inside the --images folder": (["report", "--images", "{d}/images", *REQUEST, "--out", "{d}/images/train/a/r.html"],
                                            r"error: --out .*r\.html lies inside the input folder --images .*images; write it somewhere else$"),
    "--out is the --model file": ([*REPORT, "--model", "{d}/models/model.skops", "--out", "{d}/models/model.skops", "--force"],
                                  INPUT + r"--model .*model\.skops"),
    "an --out folder that holds the --model": (["apply", *TABLE, "--model", "{d}/models/model.skops", "--action", "relabel", "--indices", "1",
                                                "--out", "{d}/models"], r"error: --out .*models holds the input --model .*model\.skops; "
                                                r"write to a folder of its own$"),
    "an existing report without --force": ([*REPORT, "--out", "{d}/existing.html"],
                                           r"error: --out .*existing\.html exists; pass --force to replace it, or give another name$"),
    "an existing export without --force": (["apply", "--demo", "credit", "--action", "remove", "--indices", "4", "--out", "{d}/out/m1"],
                                           r"error: --out .*m1/train\.csv exists; pass --force to replace it"),
    "--out into the cache folder": ([*REPORT, "--out", "{d}/cache/r.html"], r"error: --out .*r\.html lies inside the input folder --cache-dir"),
    "--cache-dir inside the --images folder": (["errors", "--images", "{d}/images", "--cache-dir", "{d}/images/cache"],
                                               r"error: the cache folder .*images/cache lies inside the input folder --images"),
    "--cache-dir is a symlink loop": (["errors", *TABLE, "--cache-dir", "{d}/loop"],
                                      r"error: --cache-dir .*loop cannot be resolved: it is a symlink loop or an unreadable link"),
}


@pytest.mark.parametrize("case", list(WRITES))
def test_no_output_writes_over_an_input_or_a_device(case, d, capsys):
    args, expected = WRITES[case]
    args = [a.format(d=d) for a in args]
    if "--cache-dir" not in args:
        args += ["--cache-dir", str(d / "cache")]
    before = hashes(d)
    code, out, err = run(args, capsys)
    assert (code, out) == (2, ""), err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.match(expected, lines[0]), lines[0]
    assert hashes(d) == before  # every file holds the same bytes
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.lstat(d / "fifo").st_mode)
    assert not (d / "cache").exists()  # refused before anything was trained


def test_force_replaces_an_output_and_leaves_no_temporary_file(d, capsys):
    out = d / "fixed"

    def apply(index: str, *extra: str) -> int:
        args = ["apply", *[a.format(d=d) for a in TABLE], "--action", "remove", "--indices", index, "--out", str(out), "--no-cache"]
        return run([*args, *extra], capsys)[0]

    assert apply("1") == 0
    first = (out / "train.csv").read_bytes()
    assert apply("2") == 2  # exists: refused, untouched
    assert (out / "train.csv").read_bytes() == first
    assert apply("2", "--force") == 0
    assert (out / "train.csv").read_bytes() != first
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.csv"]
    assert oct(os.stat(out / "train.csv").st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- manifests that are not what they say ---------------------------------------------------------


@pytest.fixture()
def exports(tmp_path, capsys) -> dict[str, dict]:
    """A remove and an add manifest of the credit demo (neither trains anything)."""
    docs = {}
    for action, indices in (("remove", "3,5"), ("add", "2,7")):
        out = tmp_path / action
        code, _, err = run(["apply", "--demo", "credit", "--action", action, "--indices", indices, "--out", str(out), "--no-cache"], capsys)
        assert code == 0, err
        docs[action] = json.loads((out / "manifest.json").read_text())
    return docs


def _added(doc: dict, **change) -> dict:
    return doc | {"changes": [dict(doc["changes"][0], **change), *doc["changes"][1:]]}


MANIFESTS = {
    # the cases: each exited 0, and the new manifest said what was not done
    "weight -5 on an added row": (lambda m: _added(m["add"], weight=-5), r"change 1 of the manifest has the weight -5; weights are numbers above 0"),
    "weight 0 on an added row": (lambda m: _added(m["add"], weight=0), r"change 1 of the manifest has the weight 0;"),
    "weight 1e308 on an added row": (lambda m: _added(m["add"], weight=1e308), r"change 1 of the manifest has the weight 1e\+308; .* at most 1,000,000$"),
    "weight NaN on an added row": (lambda m: json.dumps(_added(m["add"], weight=float("nan"))),
                                   r"the manifest holds NaN, which is not a JSON number"),
    "weight Infinity": (lambda m: json.dumps(_added(m["add"], weight=float("inf"))), r"the manifest holds Infinity, which is not a JSON number"),
    '"removed": "no"': (lambda m: _added(m["remove"], removed="no"), r"change 1 of the manifest has 'removed' 'no'; it must be true or false$"),
    "an action that is a dict": (lambda m: m["remove"] | {"action": {"rm": "-rf"}}, r"the manifest's 'action' must be text, not an object"),
    "an action that is a path": (lambda m: m["remove"] | {"action": "../../tmp/x"},
                                 r"the manifest's action '\.\./\.\./tmp/x' is not one of remove, relabel, upweight, add, hand edits"),
    "deeply nested JSON (was RecursionError)": (lambda m: "[" * 200_000 + "]" * 200_000,
                                                r"the manifest nests lists and objects more than 32 levels deep"),
    # next tries
    "nesting hidden in a long string is no nesting": (lambda m: m["remove"] | {"reason": "[" * 10_000}, None),
    "a key given twice": (lambda m: json.dumps(m["remove"])[:-1] + ', "action": "add"}', r"the manifest repeats the field action in one object"),
    "a typo that would do nothing": (lambda m: _added(m["remove"], remove=True), r"change 1 of the manifest has the unknown field 'remove'"),
    "removed false under remove": (lambda m: _added(m["remove"], removed=False), r"change 1 of the manifest changes nothing on training row 3"),
    "a relabel smuggled into a remove": (lambda m: _added(m["remove"], new_label="bad" if m["remove"]["changes"][0]["label"] == "good" else "good"),
                                         r"change 1 of the manifest does not fit its action 'remove': a remove change says \"removed\": true"),
    '"added": false': (lambda m: _added(m["add"], added=False), r'change 1 of the manifest says "added": false'),
    "a pool change under remove": (lambda m: m["remove"] | {"changes": m["add"]["changes"]}, r"change 1 of the manifest adds a pool sample"),
    "true as an index": (lambda m: _added(m["remove"], train_index=True), r"change 1 of the manifest has no training index \(a whole number\)"),
    "a count that disagrees": (lambda m: m["remove"] | {"n_train_after": 5}, r"the manifest says the corrected training set has 5 rows"),
    "reason as a list": (lambda m: m["remove"] | {"reason": ["x"]}, r"the manifest's 'reason' must be text, not a list"),
    "a 70 MB manifest": (lambda m: " " * (65 * 2**20), r"--manifest .* is larger than 64 MB"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_a_replayed_manifest_applies_exactly_what_it_says(case, exports, tmp_path, capsys):
    make, expected = MANIFESTS[case]
    doc = make(exports)
    path = tmp_path / "hostile.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    out = tmp_path / "again"
    code, stdout, err = run(["apply", "--demo", "credit", "--manifest", str(path), "--out", str(out), "--no-cache"], capsys)
    if expected is None:  # accepted, and the replay says what it did
        assert code == 0, err
        assert json.loads((out / "manifest.json").read_text())["changes"] == doc["changes"]
        return
    assert (code, stdout) == (2, ""), err
    assert err.count("\n") == 1 and re.match("error: " + expected, err), err
    assert not out.exists()


def test_replaying_without_its_pool_says_so(d, capsys):
    table = [a.format(d=d) for a in TABLE]
    code, _, err = run(["apply", *table, "--pool", str(d / "data" / "pool.csv"), "--action", "remove", "--indices", "1",
                        "--out", str(d / "o1"), "--no-cache"], capsys)
    assert code == 0, err
    code, _, err = run(["apply", *table, "--manifest", str(d / "o1" / "manifest.json"), "--out", str(d / "o2"), "--no-cache"], capsys)
    assert code == 2
    assert err == "error: the manifest was made with a pool of 10 samples and no pool is loaded; load the same pool to replay it\n"
    code, _, err = run(["apply", *table, "--pool", str(d / "data" / "pool.csv"), "--manifest", str(d / "o1" / "manifest.json"),
                        "--out", str(d / "o2"), "--no-cache"], capsys)
    assert code == 0, err
    assert (d / "o2" / "train.csv").read_bytes() == (d / "o1" / "train.csv").read_bytes()


# --- requests that mean one thing ---------------------------------------------------------------


@pytest.fixture()
def colons(tmp_path) -> Path:
    """Classes 'a' and 'a:a', and a table whose classes are 'slice:x' and 'y'."""
    rng = np.random.default_rng(1)
    _table(rng, N, ["a", "a:a"]).to_csv(tmp_path / "colon.csv", index=False)
    _table(rng, N, ["slice:x", "y"]).rename(columns={"y": "t"}).to_csv(tmp_path / "sliced.csv", index=False)
    return tmp_path


def test_an_ambiguous_group_is_refused_naming_both_readings(colons, capsys):
    attribute = ["attribute", "--action", "remove", "--metric", "loss", "--size", "3", "--cache-dir", str(colons / "c")]
    code, out, err = run([*attribute, "--data", str(colons / "colon.csv"), "--target", "y", "--group", "a:a:a"], capsys)
    assert (code, out) == (2, "")
    assert err == ("error: --group 'a:a:a' can be read as 'a' -> 'a:a' or as 'a:a' -> 'a'; say which with --true CLASS --pred CLASS "
                   "(or --slice ID)\n")
    code, out, err = run([*attribute, "--data", str(colons / "sliced.csv"), "--target", "t", "--group", "slice:x:y"], capsys)
    assert code == 2 and "can be read as 'slice:x' -> 'y' or as the slice 'x:y'" in err, err
    assert not (colons / "c").exists()  # before the baseline trained


def test_true_and_pred_choose_the_group_a_colon_hides(colons, capsys):
    common = ["--data", str(colons / "colon.csv"), "--target", "y", "--cache-dir", str(colons / "c")]
    code, out, err = run(["errors", *common, "--json"], capsys)
    assert code == 0, err
    groups = {(g["true"], g["pred"]): g["count"] for g in json.loads(out)["groups"]}
    assert groups.get(("a:a", "a")) and groups.get(("a", "a:a"))  # both directions err
    code, out, err = run(["attribute", *common, "--true", "a:a", "--pred", "a", "--action", "remove", "--metric", "loss", "--size", "2",
                          "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["group"]["true"] == "a:a" and json.loads(out)["group"]["pred"] == "a"
    assert len(json.loads(out)["group"]["test_indices"]) == groups[("a:a", "a")]


def test_group_readings():
    assert parse_group("a:b", ("a", "b")) == ("a", "b")
    assert parse_group("slice:tree-1", ("a", "b")) == ("slice", "tree-1")
    assert parse_group("slice:a", ("slice", "a")) == ("slice", "a")  # a class called slice: a class pair
    with pytest.raises(UsageError, match="can be read as"):
        parse_group("a:a:a", ("a", "a:a"))


REQUESTS = {
    "--tests with a duplicate (counted twice)": (["attribute", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric",
                                                   "loss", "--size", "3", "--tests", "2,2,19"],
                                                  r"error: --tests lists test sample 2 more than once; give each test sample once"),
    "--group and --true together": (["attribute", "--demo", "credit", "--group", "bad:good", "--true", "bad", "--pred", "good",
                                     "--action", "remove", "--metric", "loss", "--size", "3"],
                                    r"error: name the error group once: .* \(not --group and --true/--pred\)$"),
    "--true without --pred": (["attribute", "--demo", "credit", "--true", "bad", "--action", "remove", "--metric", "loss", "--size", "3"],
                              r"error: --true and --pred go together"),
    "an unknown --true class": (["attribute", "--demo", "credit", "--true", "ugly", "--pred", "good", "--action", "remove", "--metric",
                                 "loss", "--size", "3"], r"error: unknown class 'ugly': the classes are bad, good$"),
    "remove a group as large as a class": (["attribute", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric", "loss",
                                            "--size", "300"],
                                           r"error: a group of 300 samples could remove every training sample of class 'bad' \(\d+ rows\)"),
    "apply remove of every row": (["apply", "--demo", "credit", "--action", "remove", "--indices", ",".join(map(str, range(700))),
                                   "--out", "{t}/o"], r"error: the edit would leave no training rows; nothing was written"),
    "apply remove of a whole class": (["apply", "--demo", "credit", "--action", "remove", "--indices", "{bad}", "--out", "{t}/o"],
                                      r"error: the edit would leave training rows of one class only \('good'\)"),
    "apply relabel of a whole class, before training": (["apply", "--demo", "credit", "--action", "relabel", "--indices", "{bad}",
                                                         "--out", "{t}/o"], r"error: the edit would leave training rows of one class only"),
    "--scheduler without --backend dask": (["errors", "--demo", "credit", "--scheduler", "tcp://10.0.0.5:8786"],
                                           r"error: --scheduler is the address of a Dask scheduler; add --backend dask to use it"),
    "a .pkl names --trust-code": (["errors", "--demo", "credit", "--model", "{t}/m.pkl"],
                                  r"error: m\.pkl: \.pkl files run code when loaded; .*pass --trust-code if you trust this file"),
    "CSV with a repeated column name": (["errors", "--data", "{t}/dup.csv", "--target", "y"],
                                        r"error: .*dup\.csv: the column names x1 appear more than once; give every column its own name$"),
}


@pytest.mark.parametrize("case", list(REQUESTS))
def test_a_request_is_refused_before_training(case, credit, tmp_path, capsys):
    args, expected = REQUESTS[case]
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "dup.csv").write_text("x1,x1,y\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n")
    bad = ",".join(str(i) for i in np.flatnonzero(credit.y_train == credit.classes.index("bad")))
    args = [a.format(t=tmp_path, bad=bad) for a in args] + ["--cache-dir", str(tmp_path / "c")]
    code, out, err = run(args, capsys)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and re.match(expected, err), err
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


def test_an_unknown_slice_is_one_line(d, capsys):
    """--slice ID names an error slice; one that does not exist says which do (after the baseline,
    which the slices are found from)."""
    code, out, err = run(["attribute", *[a.format(d=d) for a in TABLE], "--slice", "nope", "--action", "remove", "--metric", "loss",
                          "--size", "3", "--no-cache"], capsys)
    assert (code, out) == (2, ""), err
    lines = err.splitlines()  # the slices need the baseline: its progress line, then the one error line
    assert [line for line in lines if line.startswith("error:")] == lines[-1:] and "Traceback" not in err, err
    assert re.match(r"error: no error slice 'nope'; the slices are: (tree|cluster)-\d", lines[-1]), err


# --- a budget that counts what a pool costs -------------------------------------------------------


def test_a_pool_of_hours_needs_candidates_and_says_so_with_the_estimate(d, capsys):
    """The issue's case: a 300k-row pool passed the budget, then ran with an ETA of 4 hours and rising
    memory, and the refusal of a 1M-row pool called pool rows "training samples". A pool whose exact
    add ranking is beyond one machine is refused before anything trains, in pool words and with
    candidate mode's cost; the way out it names runs."""
    _table(np.random.default_rng(3), 34_000, ["a", "b"]).to_csv(d / "big_pool.csv", index=False)
    args = ["attribute", *[a.format(d=d) for a in TABLE], "--pool", str(d / "big_pool.csv"), "--group", "a:b", "--action", "add",
            "--metric", "loss", "--size", "3", "--cache-dir", str(d / "c")]
    before = hashes(d)
    code, out, err = run(args, capsys)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "training samples" not in err, err
    assert re.match(r"error: an exact ranking of 102,000 models \(34,000 pool samples x 3 members\) would take hours on one machine "
                    r"\(at most 100,000 without a cluster\): use candidate mode \(--candidates N\) to retrain only the top few hundred "
                    r"\(--candidates 200: about [\d,]+ models, [\d.]+ [KMG]iB\), or run the exact ranking on a Dask cluster$", err), err
    assert hashes(d) == before and not (d / "c").exists()  # refused before the baseline trained
    code, out, err = run([*args, "--candidates", "20", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["plan"] == "candidates" and len(doc["ranking"]) == 30  # the top 20 and a check sample of 10, retrained
    assert all("pool_index" in row for row in doc["ranking"])


# --- model files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(float("nan"), "NaN or infinite values"), (float("inf"), "NaN or infinite values"),
                                             (1e30, r"values up to 1e\+30")])
def test_weights_that_cannot_train_are_refused_on_load(value, expected, d, capsys):
    import torch
    from safetensors.torch import save_file

    save_file({"1.weight": torch.full((128, 3), value), "1.bias": torch.zeros(128)}, str(d / "w.safetensors"))
    code, out, err = run(["errors", *[a.format(d=d) for a in TABLE], "--model", str(d / "w.safetensors"), "--arch", "mlp",
                          "--cache-dir", str(d / "c")], capsys)
    assert (code, out) == (2, "")
    assert re.fullmatch(rf"error: w\.safetensors: the layer '1\.weight' holds {expected} \(at most 1e\+06 in magnitude\); a network "
                        r"cannot train from them: save the weights of a trained network\n", err), err


def test_a_pt_with_integer_keys_is_refused_in_words(d, capsys):
    import torch

    torch.save({0: torch.zeros(2), 1: torch.ones(2)}, d / "ints.pt")
    code, out, err = run(["errors", *[a.format(d=d) for a in TABLE], "--model", str(d / "ints.pt"), "--arch", "mlp", "--no-cache"], capsys)
    assert (code, out) == (2, "")
    assert err == ("error: ints.pt: not a state dict: its keys must be layer names (text, such as 'conv1.weight'); "
                   "save model.state_dict()\n")


@pytest.mark.parametrize("weights, expected", [
    ("integer keys", r"error: old\.pt: not a state dict: its keys must be layer names"),
    ("huge values", r"error: old\.pt: the layer '1\.weight' holds values up to 1e\+30 \(at most 1e\+06 in magnitude\)"),
])
def test_a_legacy_pickle_pt_is_one_line_and_no_warning_in_a_real_process(weights, expected, d):
    """The issue saw Python warnings on stderr for failing runs with a legacy-pickle ``.pt`` (torch's
    format before zip files) and huge weights. Run as a user runs it, in a process of its own where
    pytest's own warning capture cannot hide them: stderr is the one error line."""
    import subprocess
    import sys

    import torch

    state = {0: torch.zeros(2)} if weights == "integer keys" else {"1.weight": torch.full((128, 3), 1e30), "1.bias": torch.zeros(128)}
    torch.save(state, d / "old.pt", _use_new_zipfile_serialization=False)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "TDA_DEBUG")}
    done = subprocess.run([sys.executable, "-m", "tda_core", "errors", *[a.format(d=d) for a in TABLE], "--model", str(d / "old.pt"),
                           "--arch", "mlp", "--no-cache"], capture_output=True, text=True, env=env, timeout=300)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.count("\n") == 1 and re.match(expected, done.stderr), done.stderr
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr


# --- what reaches the terminal --------------------------------------------------------------------


def test_no_python_warning_reaches_stderr(capsys, monkeypatch):
    def noisy(args):
        warnings.warn("internal words", UserWarning, stacklevel=1)
        np.log(np.zeros(1))  # RuntimeWarning: divide by zero
        assert os.environ["PYTHONWARNINGS"] == "ignore"  # and none from the workers it starts
        raise UsageError("the user's words")

    monkeypatch.setitem(COMMANDS, "errors", noisy)
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    code, out, err = run(["errors", "--demo", "credit"], capsys)
    assert (code, out, err) == (2, "", "error: the user's words\n")
    assert "PYTHONWARNINGS" not in os.environ  # put back as it was


def test_class_names_are_printed_with_control_characters_escaped(tmp_path, capsys):
    rng = np.random.default_rng(2)
    names = ["\x1b[2J\x1b[31mred", "two\nlines", "\u202eevil"]  # clear screen + colour, a line break, a bidi override
    _table(rng, 90, names).to_csv(tmp_path / "ansi.csv", index=False)
    code, out, err = run(["errors", "--data", str(tmp_path / "ansi.csv"), "--target", "y", "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\x1b" not in err
    assert "\\x1b[2J\\x1b[31mred" in out and "two\\nlines" in out and "\\u202eevil" in out
    code, out, err = run(["attribute", "--data", str(tmp_path / "ansi.csv"), "--target", "y", "--group", "\x1b[31mx:y",
                          "--action", "remove", "--metric", "loss", "--size", "2", "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 2 and "\x1b" not in err and err.count("\n") == 1


def test_an_export_keeps_the_input_column_order(d, capsys):
    code, _, err = run(["apply", *[a.format(d=d) for a in TABLE], "--action", "upweight", "--indices", "1", "--out", str(d / "fixed"),
                        "--no-cache"], capsys)
    assert code == 0, err
    assert list(pd.read_csv(d / "fixed" / "train.csv").columns) == ["row_id", "x", "y", "c", "sample_weight"]
    code, _, err = run(["apply", *[a.format(d=d) for a in TABLE], "--manifest", str(d / "fixed" / "manifest.json"), "--out",
                        str(d / "again"), "--no-cache"], capsys)
    assert code == 0, err
    assert (d / "again" / "train.csv").read_bytes() == (d / "fixed" / "train.csv").read_bytes()


# --- cache entries that prove their content -----------------------------------------------------


def _rewrite(entries: list[Path], change, keep_metadata: bool = True) -> None:
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    for path in entries:
        with safe_open(str(path), "np") as f:
            metadata = f.metadata()
        arrays = {k: change(v) for k, v in load_file(str(path)).items()}
        save_file(arrays, str(path), metadata=metadata if keep_metadata else None)


@pytest.mark.parametrize("tamper", ["classes swapped", "classes swapped, no metadata", "negative probabilities", "times 1e300",
                                    "another key's entry"])
def test_a_tampered_cache_entry_is_trained_again(tamper, tmp_path, capsys):
    """The issue's case: swapping the classes of the baseline entries made errors report
    accuracy 0.228 instead of 0.772. Every tampered entry is now discarded and retrained."""
    args = ["errors", "--demo", "credit", "--json", "--cache-dir", str(tmp_path)]
    first = json.loads(run(args, capsys)[1])
    assert round(first["base"]["accuracy_mean"], 3) == 0.772
    entries = sorted(tmp_path.rglob("*.safetensors"))
    assert len(entries) == 3
    if tamper == "another key's entry":
        for path in entries[1:]:
            path.write_bytes(entries[0].read_bytes())
    else:
        change = {"classes swapped": lambda v: v[..., ::-1].copy(), "classes swapped, no metadata": lambda v: v[..., ::-1].copy(),
                  "negative probabilities": lambda v: -v, "times 1e300": lambda v: v * 1e300}[tamper]
        _rewrite(entries, change, keep_metadata=tamper != "classes swapped, no metadata")
    code, out, err = run(args, capsys)
    assert code == 0, err
    second = json.loads(out)
    assert second["base"] == first["base"]  # the clean result, not 0.228
    expected = (2, 1) if tamper == "another key's entry" else (3, 0)  # the first entry is still its own
    assert (second["timing"]["retrains"], second["timing"]["cache_hits"]) == expected


@pytest.mark.slow
@pytest.mark.parametrize("arch, size", [("resnet18", 640), ("resnet50", 1024)])
def test_a_network_over_the_budget_is_refused_before_it_allocates(arch, size, tmp_path):
    """Issue 19's networks: the budget counts parameters, gradients, AdamW state and activations
    (measured on the meta device), so the run is one line, and the process stays far under the
    limit (before: 4.3 GB peak after a 4 GB check; "can't allocate memory" for resnet50)."""
    import resource
    import subprocess
    import sys

    from PIL import Image

    rng = np.random.default_rng(0)
    for part in ("train", "test"):
        for name in ("cat", "dog"):
            (tmp_path / "imgs" / part / name).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "imgs" / part / name / f"{i}.png")
    done = subprocess.run(
        [sys.executable, "-m", "tda_core", "errors", "--images", str(tmp_path / "imgs"), "--arch", arch, "--image-size", str(size),
         "--no-cache"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: this run needs about "), done.stderr
    assert "network training" in lines[0] and "--mode head" in lines[0]
    assert peak < 2.5 * 2**30, f"peak RSS {peak / 2**30:.2f} GiB while refusing"
