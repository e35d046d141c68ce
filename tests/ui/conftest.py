"""Fixtures of the page tests: the engine's own analysis of the credit demo, and the downloads."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def credit_analysis():
    """The engine's own analysis of the credit demo with the dashboard's defaults."""
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe

    data = load_demo("credit")
    return Analysis(data, default_recipe(data), RunConfig())


@pytest.fixture
def downloads(monkeypatch):
    """Every file the app offers for download: {file name: bytes}; a deferred download (a callable)
    is recorded as the callable, which the test calls as a click would."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id
    deferred = MediaFileManager.add_deferred

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            files[filename] = path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
        return original(self, path_or_data, mimetype, kind, filename)

    def record_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        if file_name:
            files[file_name] = data_callable
        return deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    return files
