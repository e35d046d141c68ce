"""Shared test setup: every test session gets its own empty engine cache, and the datasets,
models and archives several test modules use (built by tests/helpers.py)."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any engine import, so AppTest runs and subprocesses inherit it too.
os.environ.setdefault("TDA_CACHE_DIR", tempfile.mkdtemp(prefix="tda-test-cache-"))
# --n-jobs auto never starts workers here: pytest-xdist keeps both cores busy already, and workers
# would compete with it (tests/test_auto_jobs.py lowers the threshold where it tests auto itself).
os.environ.setdefault("TDA_AUTO_PARALLEL_SECONDS", "inf")


@pytest.fixture(scope="session")
def credit():
    """The German credit demo (700 train / 100 pool / 200 test rows)."""
    from tda_core.data import load_demo

    return load_demo("credit")


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer, 150 train / 80 test rows, split with seed 3 (``helpers.breast_cancer``).
    A module that needs another split overrides ``cancer`` with its own call."""
    from helpers import breast_cancer

    return breast_cancer(150, 80, seed=3)


@pytest.fixture(scope="session")
def tiny_images():
    """Three classes of 1x8x8 synthetic images, 30 train / 15 test (see planted.tiny_images)."""
    from planted import tiny_images

    return tiny_images()


@pytest.fixture
def halve(monkeypatch):
    """A toy fifth action (tests/toy_action.py), registered in the engine's ``ACTIONS`` for one test."""
    from toy_action import Halve

    from tda_core._actions import ACTIONS

    monkeypatch.setitem(ACTIONS, "halve", Halve())
    return ACTIONS["halve"]


@pytest.fixture(scope="session")
def make_zip():
    """``helpers.make_zip``: ``make_zip({"train/cat/a.png": b"..."})`` is the bytes of a ZIP."""
    from helpers import make_zip

    return make_zip
