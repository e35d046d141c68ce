"""The public API is what the dashboard uses: ui/ and pages/ import only public names of public
packages (skops' convention: a module or name that starts with ``_`` is internal)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = sorted([*ROOT.glob("ui/**/*.py"), *ROOT.glob("pages/*.py"), ROOT / "dashboard.py"])
#: The packages (and the one public module, the memory budget) a client may import from.
PUBLIC = ("tda_core", "tda_core.cli", "tda_core.data", "tda_core.estimates", "tda_core.recipes", "tda_core.recipes.torch",
          "tda_core.limits")


def engine_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every import of tda_core in ``path`` (name "" for ``import tda_core.x``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tda_core":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names if alias.name.split(".")[0] == "tda_core"]
    return found


def test_the_clients_are_found():
    assert len(CLIENTS) >= 20
    assert sum(len(engine_imports(p)) for p in CLIENTS) >= 50


@pytest.mark.parametrize("path", CLIENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_and_pages_import_only_public_names(path):
    problems = []
    for line, module, name in engine_imports(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if module not in PUBLIC:
            problems.append(f"{where} imports from {module}: import from one of {', '.join(PUBLIC)}")
            continue
        exported = getattr(importlib.import_module(module), "__all__", ())
        if name and name not in exported and f"{module}.{name}" not in PUBLIC:
            problems.append(f"{where} imports {name} from {module}, which is not in its __all__")
    assert not problems, "\n".join(problems)


def test_the_budget_module_names_its_public_api():
    """``limits.X`` in a client: X is in tda_core.limits.__all__."""
    from tda_core import limits

    used = set()
    for path in CLIENTS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "limits":
                used.add(node.attr)
    assert used and used <= set(limits.__all__), used - set(limits.__all__)


def test_every_internal_module_is_named_as_one():
    """Apart from the packages and the budget, every module of tda_core is internal: ``_module.py``."""
    public = [p.relative_to(ROOT) for p in (ROOT / "tda_core").rglob("*.py")
              if not p.name.startswith("_") and p.relative_to(ROOT).as_posix() != "tda_core/limits.py"]
    assert public == []


def test_every_public_name_resolves():
    for module in PUBLIC:
        package = importlib.import_module(module)
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert not missing, (module, missing)
