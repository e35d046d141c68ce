"""The documentation stays true: every command in the README's and the docs' code blocks parses,
the API tutorial and the README's example run, real CLI output fits docs/schema/*.json, the CLI
reference lists every option of the parser, and the API reference lists exactly ``__all__``.

Commands are parsed in this process by the CLI's own parser (no process per command); benchmark
commands are checked against the options their scripts declare, read from the source.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import tda_core
from tda_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "bench" / "README.md", *PAGES]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
#: Code blocks that hold no shell commands.
NOT_SHELL = {"python", "json", "toml", "yaml"}
#: How a command line starts (anything else in a block is output shown beside it).
PROGRAMS = (".venv/bin/", "python", "time ", "tda ", "dask ")


def hook(name: str):
    """A module of docs/hooks/ (the site's build hooks), imported from its file."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blocks(path: Path, languages: set[str] | None = None, skip: set[str] = frozenset()) -> list[str]:
    """The fenced code blocks of a Markdown file, of the given languages (all, less ``skip``)."""
    found = FENCE.findall(path.read_text(encoding="utf-8"))
    return [body for lang, body in found if (languages is None or lang in languages) and lang not in skip]


def shell_lines(body: str) -> list[str]:
    """The commands of a shell block: continuations joined, prompts (``$ ``) dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.strip().removeprefix("$ ").strip() for line in joined.splitlines() if line.strip()]


INLINE = re.compile(r"`((?:time )?\.venv/bin/[^`]+)`")


def inline_commands(path: Path) -> list[str]:
    """Whole commands quoted in the text (`` `.venv/bin/...` ``), outside code blocks."""
    return INLINE.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def commands() -> list[tuple[str, list[str]]]:
    """Every command in the documents' code blocks, and the whole commands quoted in their text,
    as (where, the words)."""
    out = []
    for path in DOCUMENTS:
        lines = [line for body in blocks(path, skip=NOT_SHELL) for line in shell_lines(body)]
        for line in [*lines, *inline_commands(path)]:
            if not line.startswith(PROGRAMS):  # output shown beside a command, not a command
                continue
            words = shlex.split(line, comments=True)
            if words[:1] == ["time"]:
                words = words[1:]
            if words:
                out.append((f"{path.relative_to(ROOT)}: {line}", words))
    return out


def cli_commands() -> list[tuple[str, list[str]]]:
    found = []
    for where, words in commands():
        if "tda_core" in words and words[words.index("tda_core") - 1] == "-m":
            found.append((where, words[words.index("tda_core") + 1 :]))
    return found


def test_every_cli_command_in_the_docs_parses(capsys):
    parser = build_parser()
    found = cli_commands()
    problems = []
    for where, argv in found:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            problems.append(f"{where}\n    exit {exc.code}: {capsys.readouterr().err.strip()}")
    assert not problems, "\n".join(problems)
    # The documents show every command, and many of them (a test that finds none cannot pass).
    assert {argv[0] for _, argv in found} == set(hook("cli_reference").commands(parser)), sorted({a[0] for _, a in found})
    assert len(found) >= 30, len(found)


def test_a_misspelt_option_would_fail_the_docs_check(capsys):
    """The check above can fail: the parser refuses what the docs could get wrong."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["attribute", "--demo", "credit", "--group", "bad:good", "--action", "remove",
                                   "--metric", "loss", "--sizes", "10"])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def declared_options(script: Path) -> set[str]:
    """The option strings a benchmark script's argparse declares, read from its source."""
    options = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            options |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")}
    return options


def test_every_benchmark_and_test_command_names_what_exists():
    """``bench/X.py --flag`` names a script that declares ``--flag``; ``pytest path`` names files that exist."""
    checked, problems = 0, []
    for where, words in commands():
        scripts = [w for w in words if re.fullmatch(r"bench/\w+\.py", w)]
        if scripts:
            script = ROOT / scripts[0]
            options = declared_options(script) if script.exists() else set()
            unknown = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in options]
            if not script.exists() or unknown:
                problems.append(f"{where}: {'missing script' if not script.exists() else unknown}")
            checked += 1
        if "pytest" in words:
            for w in words[words.index("pytest") + 1 :]:
                if w.startswith("tests"):
                    checked += 1
                    if not (ROOT / w.split("::")[0]).exists():
                        problems.append(f"{where}: {w} does not exist")
    assert not problems, "\n".join(problems)
    assert checked >= 20, checked


def test_the_cli_reference_lists_every_option_of_every_command():
    """The generated reference (docs/hooks/cli_reference.py) against the usage line of each command's ``--help``."""
    reference = hook("cli_reference")
    text = reference.reference()
    parser = build_parser()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    by_name = {s.split("`")[1]: s for s in sections}
    assert list(by_name) == list(reference.commands(parser))
    for name, command in reference.commands(parser).items():
        in_help = set(re.findall(r"--[a-z][\w-]*", command.format_usage()))  # every option, required ones too
        in_section = set(re.findall(r"`(--[a-z][\w-]*)`", by_name[name]))
        assert in_help - {"--help"} == in_section, (name, in_help ^ in_section)
    assert "<!-- cli-reference -->" in (DOCS / "cli" / "index.md").read_text(encoding="utf-8")


def test_the_api_reference_lists_exactly_the_public_api():
    listed = re.findall(r"^::: tda_core\.(\w+)$", (DOCS / "api" / "reference.md").read_text(encoding="utf-8"), re.M)
    assert sorted(listed) == sorted(tda_core.__all__)
    assert len(listed) == len(set(listed))


def python_blocks(path: Path) -> list[str]:
    return blocks(path, {"python"})


def test_the_api_tutorial_runs(tmp_path, monkeypatch, capsys):
    """docs/api/tutorial.md is a script: its blocks run in order in one namespace (asserts included)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    code = python_blocks(DOCS / "api" / "tutorial.md")
    assert len(code) >= 8
    for i, block in enumerate(code):
        exec(compile(block, f"docs/api/tutorial.md, block {i + 1}", "exec"), namespace)
    result, table = namespace["result"], namespace["table"]
    assert len(table) == namespace["data"].n_train - len(result.selected)  # the removed rows are gone
    assert (tmp_path / "triage.html").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert f"net benefit {result.effect.net_benefit:+d}" in printed


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (code,) = python_blocks(ROOT / "README.md")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    effect = namespace["effect"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"{effect.errors_fixed} {effect.errors_new} {effect.net_benefit} {effect.accuracy_after}"


def test_the_readme_is_short_and_its_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    setup = [line for body in blocks(ROOT / "README.md", {"bash"}) for line in shell_lines(body) if line.startswith("python3 -m venv")]
    assert len(setup) == 2 and setup[0].endswith(".venv/bin/streamlit run dashboard.py")
    assert setup[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for target, anchor in re.findall(r"\]\(((?:docs/|CHANGELOG|CONTRIBUTING)[^)#]*)(?:#([^)]*))?\)", readme):
        assert (ROOT / target).exists(), target  # links and the screenshot
        if anchor:  # as the site's table of contents names the headings
            from markdown.extensions.toc import slugify

            headings = re.findall(r"^#+ (.+)$", (ROOT / target).read_text(encoding="utf-8"), re.M)
            assert anchor in {slugify(h.replace("`", ""), "-") for h in headings}, (target, anchor)


# --- JSON documents against their schemas -------------------------------------------------------


def validator(name: str):
    from jsonschema import Draft202012Validator

    schema = json.loads((DOCS / "schema" / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(name: str, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator(name).iter_errors(doc)]


def cli(*argv: str, cache: Path) -> str:
    """The command line in this process: what it prints on stdout (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([*argv, "--cache-dir", str(cache)])
    assert code == 0, (argv, err.getvalue())
    return out.getvalue()


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """Real output of the command line on the credit demo: {name: document}."""
    cache, out = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("out")
    attribute = ("attribute", "--demo", "credit", "--group", "bad:good", "--metric", "loss", "--size", "5", "--json")
    runs = {
        "errors": ("errors", "--demo", "credit", "--json"),
        "attribute": (*attribute, "--action", "remove"),
        "attribute add": (*attribute, "--action", "add"),
        "attribute group": (*attribute, "--action", "relabel", "--unit", "group"),
        "attribute candidates": (*attribute, "--action", "remove", "--candidates", "20"),
        "attribute auto": (*attribute, "--action", "remove", "--ensemble", "auto", "--max-ensemble", "4"),
        "compare": ("compare", "--demo", "credit", "--group", "bad:good", "--sizes", "1,5", "--json"),
    }
    docs = {name: json.loads(cli(*argv, cache=cache)) for name, argv in runs.items()}
    for name, edit in {"manifest": ("--action", "remove", "--indices", "12,40"),
                       "manifest add": ("--action", "add", "--indices", "3,7")}.items():
        folder = out / name.replace(" ", "-")
        cli("apply", "--demo", "credit", *edit, "--out", str(folder), cache=cache)
        docs[name] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return docs


@pytest.mark.parametrize("name", ["errors", "attribute", "attribute add", "attribute group", "attribute candidates",
                                  "attribute auto", "compare", "manifest", "manifest add"])
def test_real_output_fits_its_schema(documents, name):
    assert problems(name.split()[0], documents[name]) == []


def test_the_schemas_refuse_what_breaks_the_contract(documents):
    """Each schema can fail: a document without a required field, or with a wrong type, is refused."""
    broken = json.loads(json.dumps(documents["attribute"]))
    del broken["ranking"][0]["delta_mean"]
    broken["group_effect"]["errors_fixed"] = "4"
    assert len(problems("attribute", broken)) == 2
    errors = dict(documents["errors"], groups=[{"true": "bad", "pred": "good"}])
    assert problems("errors", errors)
    compare = json.loads(json.dumps(documents["compare"]))
    compare["settings"][0]["action"] = "delete"
    assert problems("compare", compare)
    grown = json.loads(json.dumps(documents["attribute auto"]))
    assert grown["model"]["requested_ensemble"] == "auto" and grown["growth"]  # the growth fields are checked
    grown["growth_stopped"] = "never"
    assert problems("attribute", grown)
    manifest = json.loads(json.dumps(documents["manifest"]))
    manifest["changes"][0]["remove"] = True  # a typo that would do nothing: unknown fields are refused
    assert problems("manifest", manifest)


def test_every_schema_is_described_on_the_json_page():
    page = (DOCS / "cli" / "json.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in (DOCS / "schema").glob("*.json"))
    assert names == ["attribute.json", "compare.json", "errors.json", "manifest.json"]
    for name in names:
        assert f"(../schema/{name})" in page, name


def test_docstring_roles_read_as_code_in_the_api_reference():
    plain = hook("rst_roles").plain
    assert plain("a :class:`~tda_core._exceptions.UntrustedFileError` or :func:`tda_core._stats.reliability`") == (
        "a `UntrustedFileError` or `tda_core._stats.reliability`")
    assert plain("``code`` stays") == "``code`` stays"
