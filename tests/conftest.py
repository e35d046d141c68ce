"""Shared test setup: every test session gets its own empty engine cache, and the datasets
several test modules train on."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any engine import, so AppTest runs and subprocesses inherit it too.
os.environ.setdefault("TDA_CACHE_DIR", tempfile.mkdtemp(prefix="tda-test-cache-"))


@pytest.fixture(scope="session")
def credit():
    """The German credit demo (700 train / 100 pool / 200 test rows)."""
    from tda_core.data import load_demo

    return load_demo("credit")


@pytest.fixture(scope="session")
def tiny_images():
    """Three classes of 1x8x8 synthetic images, 30 train / 15 test (see planted.tiny_images)."""
    from planted import tiny_images

    return tiny_images()


@pytest.fixture
def halve(monkeypatch):
    """A toy fifth action (tests/toy_action.py), registered in the engine's ``ACTIONS`` for one test."""
    from toy_action import Halve

    from tda_core.actions import ACTIONS

    monkeypatch.setitem(ACTIONS, "halve", Halve())
    return ACTIONS["halve"]
