"""An error's ways out are said by each client in its own words, without rewriting its message:
the engine words them neutrally, the command line names its flags, the dashboard its controls."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import joblib
import pytest
from cli_run import run
from sklearn.linear_model import LogisticRegression

from tda_core import RunConfig, UntrustedFileError, default_recipe, limits, load_demo
from tda_core._exceptions import BudgetError, way_out
from tda_core.cli._text import WAYS_OUT as FLAGS
from tda_core.recipes import load_model

ROOT = Path(__file__).resolve().parents[1]


def test_a_way_out_is_said_in_each_clients_words():
    exc = BudgetError(f"this run needs 9 GiB: {way_out('candidate_mode')}, or {way_out('memory_limit')}", needed="9.9 GiB")
    assert str(exc) == "this run needs 9 GiB: use candidate mode, or raise the memory limit to at least 9.9 GiB"
    assert exc.worded(FLAGS) == "this run needs 9 GiB: use candidate mode (--candidates N), or raise the limit with --max-memory 9.9 GiB"
    assert isinstance(exc, ValueError)
    again = pickle.loads(pickle.dumps(exc))  # from a worker process: the neutral words survive
    assert str(again) == str(exc)


def sizes(text: str) -> str:
    return re.sub(r"[\d.,]+ [KMG]iB", "SIZE", text)


def test_the_budget_refusal_of_the_engine_and_of_the_command_line(tmp_path, capsys):
    data = load_demo("credit")
    with pytest.raises(BudgetError) as caught:
        limits.check_run(data, default_recipe(data), RunConfig(ensemble=3, max_memory=64 * 2**20, use_cache=False), ranking=True)
    said = str(caught.value)
    assert ", or raise the memory limit to at least " in said and "--max-memory" not in said
    needed = said.rsplit("at least ", 1)[1]
    code, out, err = run("attribute", "--demo", "credit", "--group", "bad:good", "--action", "remove", "--metric", "loss",
                         "--size", "3", "--max-memory", "64M", "--no-cache", cache=tmp_path, capsys=capsys)
    assert (code, out) == (2, "")
    # The same refusal, the process's own memory apart (it is measured as each one runs).
    assert sizes(err) == sizes(f"error: {caught.value.worded(FLAGS)}\n")
    assert re.search(r", or raise the limit with --max-memory [\d.]+ [KMG]iB\n$", err) and needed.endswith("iB")


def test_an_untrusted_file_names_the_flag_on_the_command_line_and_the_tick_on_the_page(tmp_path, capsys):
    data = load_demo("credit")
    path = tmp_path / "m.pkl"
    joblib.dump(LogisticRegression(), path)
    with pytest.raises(UntrustedFileError) as caught:
        load_model(path, data)
    assert str(caught.value) == ("m.pkl: .pkl files run code when loaded; save the model with skops (skops.io.dump) or "
                                 "say that you trust this file")
    code, out, err = run("errors", "--demo", "credit", "--model", str(path), cache=tmp_path / "c", capsys=capsys)
    assert (code, out, err) == (2, "", "error: m.pkl: .pkl files run code when loaded; save the model with skops (skops.io.dump) or "
                              "pass --trust-code if you trust this file\n")
    assert caught.value.worded({"trust_file": "tick “I trust this file”"}).endswith("or tick “I trust this file”")


def said(node: ast.expr) -> bool:
    """An expression that is an error's message: ``str(...)``, or a name like ``message``/``exc``."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "str":
        return True
    return isinstance(node, ast.Name) and node.id in {"message", "exc", "error", "text"}


def test_no_client_rewrites_an_engine_message():
    """``str(exc).replace`` or ``re.sub`` on a message: the ways out are the error's to word."""
    clients = [*ROOT.glob("ui/**/*.py"), *ROOT.glob("pages/*.py"), *ROOT.glob("tda_core/cli/*.py")]
    found = []
    for path in clients:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "replace"
                    and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "str"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sub"
                    and getattr(node.func.value, "id", "") == "re" and any(said(a) for a in node.args[2:])):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
