"""The engine's cache: safetensors files that round-trip exactly, never execute code, and are
treated as missing whenever they are not exactly what was stored."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from safetensors.numpy import save_file

from tda_core._actions import ACTIONS, Edit
from tda_core._cache import FORMAT, ArrayCache, cache_dir
from tda_core._engine import Engine, RunConfig
from tda_core.recipes import LogisticSGDRecipe

KEY = ("predict", "data-fingerprint", "recipe-fingerprint", 0, "test", (Edit.baseline(),))
SHAPES = {"proba": (2, 3)}


@pytest.fixture()
def cache(tmp_path):
    return ArrayCache(tmp_path)


def test_store_and_load_round_trip_exactly(cache, tmp_path):
    proba = np.array([[0.1, 0.2, 0.7], [1e-200, 0.5, 0.5]])
    f32 = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    cache.store(KEY, {"proba": proba, "F": f32})
    got = cache.load(KEY)
    assert got["proba"].dtype == np.float64 and got["F"].dtype == np.float32
    np.testing.assert_array_equal(got["proba"], proba)
    np.testing.assert_array_equal(got["F"], f32)
    path = cache.path(KEY)
    assert path.parent.parent == tmp_path / FORMAT and path.suffix == ".safetensors"
    assert path.parent.name == path.stem[:2]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_keys_hash_by_value(cache):
    assert cache.digest(KEY) == cache.digest(tuple(KEY))
    assert cache.digest(KEY) != cache.digest((*KEY[:3], 1, *KEY[4:]))
    assert cache.load(("another", "key")) is None


def test_the_expected_shapes_are_checked(cache):
    cache.store(KEY, {"proba": np.full((2, 3), 0.5)})
    assert cache.load(KEY, SHAPES) is not None
    assert cache.load(KEY, {"proba": None}) is not None  # any shape
    assert cache.load(KEY, {"proba": (3, 2)}) is None  # wrong shape
    assert cache.load(KEY, {"proba": (2, 3), "extra": None}) is None  # a missing array
    cache.store(KEY, {"proba": np.full((2, 3), 0.5), "extra": np.zeros(1)})
    assert cache.load(KEY, SHAPES) is None  # an unexpected array


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_missing(cache, bad):
    proba = np.full((2, 3), 0.5)
    proba[1, 2] = bad
    cache.store(KEY, {"proba": proba})
    assert cache.load(KEY, SHAPES) is None
    assert cache.load(KEY) is None


def test_integer_arrays_are_missing(cache):
    save_file({"proba": np.ones((2, 3), dtype=np.int64)}, str(_prepared(cache)))
    assert cache.load(KEY, {"proba": (2, 3)}) is None


def _prepared(cache):
    path = cache.path(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00garbage", b"\xff" * 64, b"{}", np.ones(3).tobytes(), b'PK\x03\x04not really a zip'],
    ids=["empty", "garbage", "ff", "json", "raw-floats", "zip-header"],
)
def test_files_that_are_not_safetensors_are_missing(cache, content):
    _prepared(cache).write_bytes(content)
    assert cache.load(KEY, SHAPES) is None


def test_a_truncated_file_is_missing(cache):
    cache.store(KEY, {"proba": np.full((2, 3), 0.5)})
    path = cache.path(KEY)
    path.write_bytes(path.read_bytes()[:-8])
    assert cache.load(KEY, SHAPES) is None


def test_numpy_and_joblib_files_are_missing(cache, tmp_path):
    import joblib

    np.save(tmp_path / "a.npy", np.full((2, 3), 0.5))
    _prepared(cache).write_bytes((tmp_path / "a.npy").read_bytes())
    assert cache.load(KEY, SHAPES) is None
    joblib.dump({"proba": np.full((2, 3), 0.5)}, cache.path(KEY))
    assert cache.load(KEY, SHAPES) is None


class _Payload:
    """Unpickling this creates a file: the proof that a loader executed code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_never_executes(cache, tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps({"proba": _Payload(str(marker))})
    pickle.loads(payload)["proba"].close()  # the payload does work when unpickled...
    assert marker.exists()
    marker.unlink()
    _prepared(cache).write_bytes(payload)  # ...but planted as a cache entry it is only bytes
    assert cache.load(KEY, SHAPES) is None
    assert cache.load(KEY) is None
    assert not marker.exists()


def test_the_engine_ignores_planted_pickles_and_retrains(credit, tmp_path):
    """Pickles planted at every entry of a run, and at the old joblib.Memory layout, are never
    loaded: the engine retrains, gives the same numbers and overwrites them."""
    recipe = LogisticSGDRecipe(epochs=2)
    edits = [Edit.baseline(), ACTIONS["remove"].edit([3])]
    config = RunConfig(ensemble=2, cache_dir=str(tmp_path / "c"))
    engine = Engine(config)
    expected = engine.predict(credit, recipe, edits, engine_members(recipe))
    marker = tmp_path / "executed"
    payload = pickle.dumps({"proba": _Payload(str(marker))})
    entries = sorted((tmp_path / "c").rglob("*.safetensors"))
    assert len(entries) == 2  # one unit per seed
    for path in entries:
        path.write_bytes(payload)
    old = tmp_path / "c" / "joblib" / "tda_core" / "engine" / "unit" / "0a1b"
    old.mkdir(parents=True)
    (old / "output.pkl").write_bytes(payload)
    again = Engine(config)
    got = again.predict(credit, recipe, edits, engine_members(recipe))
    np.testing.assert_array_equal(got, expected)
    assert not marker.exists()
    assert (again.stats.retrains, again.stats.cache_hits) == (4, 0)
    third = Engine(config)
    np.testing.assert_array_equal(third.predict(credit, recipe, edits, engine_members(recipe)), expected)
    assert (third.stats.retrains, third.stats.cache_hits) == (0, 4)  # the entries were rewritten whole


def engine_members(recipe):
    return recipe.members(2, 0)


def test_no_root_caches_nothing(tmp_path):
    cache = ArrayCache(None)
    assert cache.path(KEY) is None
    cache.store(KEY, {"proba": np.ones((2, 3))})
    assert cache.load(KEY) is None


def test_a_disk_that_cannot_be_written_only_stops_caching(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ArrayCache(blocker)  # the cache root lies below a file: every write fails
    cache.store(KEY, {"proba": np.ones((2, 3))})
    assert cache.load(KEY) is None


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("TDA_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir(tmp_path / "given") == tmp_path / "given"
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("TDA_CACHE_DIR")
    assert str(cache_dir()) == "cache"
    assert os.fspath(cache_dir(str(tmp_path))) == str(tmp_path)


def test_every_key_carries_the_code_that_wrote_it(tmp_path, monkeypatch):
    """An edit of any engine module changes every key: the old entries are never read again."""
    from tda_core import _code_version as versions

    package = tmp_path / "pkg"
    (package / "recipes").mkdir(parents=True)
    (package / "recipes" / "train.py").write_text("def fit():\n    return 1\n")
    before = versions.source_digest(package.rglob("*.py"), package)
    assert versions.source_digest(package.rglob("*.py"), package) == before  # stable
    (package / "recipes" / "train.py").write_text("def fit():\n    return 2\n")
    assert versions.source_digest(package.rglob("*.py"), package) != before

    cache = ArrayCache(tmp_path / "cache")
    cache.store(KEY, {"proba": np.full((2, 3), 0.5)})
    assert cache.load(KEY, SHAPES) is not None
    monkeypatch.setattr(versions, "code_version", lambda: "edited")
    monkeypatch.setattr("tda_core._cache.code_version", lambda: "edited")
    assert cache.load(KEY, SHAPES) is None  # written by other code


def test_an_edited_fit_function_of_the_same_name_trains_again(credit, tmp_path):
    """Engine.fitted keyed its entries by the function's name: an edited function read the
    entries of its old self. Now its source is in the key."""
    import importlib

    fa = importlib.import_module("tda_core._feature_attribution")  # the package exports a function of that name

    engine = Engine(RunConfig(cache_dir=str(tmp_path)))
    recipe = LogisticSGDRecipe(epochs=2)
    first = engine.fitted(credit, recipe, 0, fa.fit_logistic_sgd)["theta"]
    assert engine.stats.retrains == 1
    again = Engine(RunConfig(cache_dir=str(tmp_path)))
    np.testing.assert_array_equal(again.fitted(credit, recipe, 0, fa.fit_logistic_sgd)["theta"], first)
    assert again.stats.retrains == 0  # the same function: read from the cache

    namespace: dict = {}
    exec("def fit_logistic_sgd(recipe, data, seed):\n    return {'theta': 2 * recipe.baseline_theta(data, seed)}", namespace)
    edited = namespace["fit_logistic_sgd"]
    edited.__module__, edited.__qualname__ = fa.fit_logistic_sgd.__module__, fa.fit_logistic_sgd.__qualname__
    third = Engine(RunConfig(cache_dir=str(tmp_path)))
    np.testing.assert_allclose(third.fitted(credit, recipe, 0, edited)["theta"], 2 * first)
    assert third.stats.retrains == 1
