"""The engine: every model trained is counted (starts and estimates included), cache hits
apart; members from seeds and checkpoints; results independent of chunking and order; a killed
run resumes with only the missing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tda_core._actions import ACTIONS, Edit
from tda_core._analysis import Analysis
from tda_core._engine import Engine, Progress, RunConfig
from tda_core._exceptions import UsageError
from tda_core._metrics import METRICS
from tda_core.data import Dataset, tabular_dataset
from tda_core.recipes import LogisticSGDRecipe
from tda_core.recipes._base import EvalOn, Member, Recipe, Start, edited_arrays
from tda_core.recipes._protocols import HasStart
from tda_core.recipes._registry import paper_sgd

ROOT = Path(__file__).resolve().parents[1]

#: What the fake recipe was asked to train, in this process (the engine runs n_jobs=1 in process).
CALLS: list[tuple] = []
#: Seeds whose fit_predict raises KeyboardInterrupt, to interrupt a run midway.
INTERRUPT: set[int] = set()


class Fake(Recipe):
    """A cheap, exact recipe: each model's probabilities are a closed form of its labels,
    weights, seed, checkpoint slot and start, so every number can be checked by hand. Its
    estimates train one model per seed (as a baseline's influence estimates do)."""

    estimate_method = "a closed form"

    def __init__(self, start: int = 0, per_run: int = 1, chunk: int = 16):
        self.start = start
        self.per_run = per_run
        self.chunk = chunk

    def _fingerprint_params(self):
        return {"start": self.start, "per_run": self.per_run}  # the chunk size changes no number

    @property
    def chunk_size(self) -> int:
        return self.chunk

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        return tuple(range(1, self.per_run + 1)) if self.per_run > 1 else ()

    def fit_predict(self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None) -> np.ndarray:
        if seed in INTERRUPT:
            raise KeyboardInterrupt
        CALLS.append(("predict", seed, tuple(edits)))
        assert (start is not None) == isinstance(self, HasStart)
        shift = 0.0 if start is None else float(start["shift"][0])
        Y, W = edited_arrays(data, edits)
        n_eval = data.n_test if eval_on == "test" else data.n_train + data.n_test
        score = (W * (Y + 1)).sum(axis=1) / 1000 + 0.001 * seed + shift  # (B,)
        slots = 0.0001 * np.arange(self.per_run)
        rows = 0.00001 * (np.arange(n_eval) - (n_eval - data.n_test))  # test rows last, as the contract says
        p1 = 0.2 + score[:, None, None] + slots[None, :, None] + rows[None, None, :]
        return np.stack([1 - p1, p1], axis=-1)

    def estimate_models(self) -> int:
        return 1

    def estimate_effects(self, data, seed, action, new_labels, test_indices, y_pred, metric, start=None):
        CALLS.append(("estimate", seed))
        return np.arange(data.n_train, dtype=np.float64) * (seed + 1)


class Started(Fake, HasStart):
    """:class:`Fake` whose fit_predict needs a per-seed start (head mode on a trained network) that
    trains ``start`` models; ``start`` = -1: a start that trains nothing (uploaded weights)."""

    def __init__(self, start: int = 1, per_run: int = 1, chunk: int = 16):
        super().__init__(start, per_run, chunk)

    def trains_from_start(self) -> bool:
        return True

    def start_seed(self, seed: int) -> int:
        return seed

    def start_models(self) -> int:
        return max(0, self.start)

    def start_shapes(self, data: Dataset) -> dict:
        return {"shift": (1,)}

    def fit_start(self, data: Dataset, seed: int) -> dict[str, np.ndarray]:
        CALLS.append(("start", seed))
        return {"shift": np.array([0.01 * seed])}


@pytest.fixture()
def toy() -> Dataset:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30), "label": ["a", "b"] * 15})
    return tabular_dataset(frame[:20], frame[20:], "label")


@pytest.fixture(autouse=True)
def fresh_calls():
    CALLS.clear()
    INTERRUPT.clear()
    yield
    INTERRUPT.clear()


def removals(n: int) -> list[Edit]:
    return [ACTIONS["remove"].edit([i]) for i in range(n)]


def expected_p1(data: Dataset, edit: Edit, seed: int, slot: int = 0, shift: float = 0.0) -> np.ndarray:
    y, w = edit.apply(data.y_train, np.ones(data.n_train))
    return 0.2 + (w * (y + 1)).sum() / 1000 + 0.001 * seed + shift + 0.0001 * slot + 0.00001 * np.arange(data.n_test)


def test_predictions_are_the_recipes_per_member(toy):
    recipe = Fake(per_run=2)
    members = [Member(0, 0), Member(0, 1), Member(3, 1)]
    edits = [Edit.baseline(), *removals(3)]
    proba = Engine(RunConfig(use_cache=False)).predict(toy, recipe, edits, members)
    assert proba.shape == (4, 3, toy.n_test, 2) and proba.dtype == np.float64
    for e, edit in enumerate(edits):
        for m, member in enumerate(members):
            np.testing.assert_allclose(proba[e, m, :, 1], expected_p1(toy, edit, member.seed, member.checkpoint), rtol=0, atol=1e-15)
    # One call per seed and chunk, never one per member.
    assert sorted(c[1] for c in CALLS) == [0, 3]


def test_train_and_test_rows(toy):
    both = Engine(RunConfig(use_cache=False)).predict(toy, Fake(), removals(2), [Member(1)], eval_on="train+test")
    test = Engine(RunConfig(use_cache=False)).predict(toy, Fake(), removals(2), [Member(1)])
    assert both.shape == (2, 1, toy.n_train + toy.n_test, 2)
    np.testing.assert_array_equal(both[:, :, toy.n_train :], test)
    assert CALLS[0][0] == "predict" and len(CALLS) == 2
    assert Engine(RunConfig(use_cache=False)).predict(toy, Fake(), [], [Member(0)]).shape == (0, 1, toy.n_test, 2)


def test_every_model_is_counted_and_cache_hits_apart(toy, tmp_path):
    recipe = Started(start=1, chunk=4)
    members = recipe.members(3)
    edits = removals(10)  # 3 chunks per seed
    config = RunConfig(cache_dir=str(tmp_path))
    engine = Engine(config)
    engine.predict(toy, recipe, edits, members)
    assert engine.stats.retrains == 3 + 3 * 10  # a start per seed, a model per edit and seed
    assert engine.stats.cache_hits == 0
    assert sorted(c for c in CALLS if c[0] == "start") == [("start", 0), ("start", 1), ("start", 2)]
    assert sum(len(c[2]) for c in CALLS if c[0] == "predict") == 30
    # Estimates: one baseline model per seed, with the starts already in memory.
    est = engine.estimate(toy, recipe, [0, 1, 2], ACTIONS["remove"], 1 - toy.y_train, np.arange(3), np.zeros(3, int), METRICS["loss"])
    np.testing.assert_array_equal(est, np.arange(toy.n_train)[None] * np.array([[1], [2], [3]]))
    assert engine.stats.retrains == 3 + 30 + 3 and engine.stats.cache_hits == 0
    # The same work again, in a new process: everything from the cache, counted apart.
    CALLS.clear()
    again = Engine(config)
    again.predict(toy, recipe, edits, members)
    again.estimate(toy, recipe, [0, 1, 2], ACTIONS["remove"], 1 - toy.y_train, np.arange(3), np.zeros(3, int), METRICS["loss"])
    assert CALLS == []
    assert (again.stats.retrains, again.stats.cache_hits) == (0, 3 + 30 + 3)
    # Another metric is another estimate; the starts are now in this engine's memory.
    again.estimate(toy, recipe, [0, 1], ACTIONS["remove"], 1 - toy.y_train, np.arange(3), np.zeros(3, int), METRICS["gt_prob"])
    assert CALLS == [("estimate", 0), ("estimate", 1)]
    assert (again.stats.retrains, again.stats.cache_hits) == (2, 36)


def test_starts_that_train_nothing_are_not_counted(toy):
    engine = Engine(RunConfig(use_cache=False))
    engine.predict(toy, Started(start=-1), removals(2), [Member(0), Member(1)])
    assert ("start", 0) in CALLS and ("start", 1) in CALLS
    assert engine.stats.retrains == 4


def test_starts_are_trained_once_per_seed_and_reach_the_recipe(toy):
    recipe = Started(start=1)
    engine = Engine(RunConfig(use_cache=False))
    proba = engine.predict(toy, recipe, removals(2), [Member(2)])
    np.testing.assert_allclose(proba[1, 0, :, 1], expected_p1(toy, removals(2)[1], 2, shift=0.02), atol=1e-15)
    engine.predict(toy, recipe, removals(5), [Member(2), Member(4)])
    assert [c for c in CALLS if c[0] == "start"] == [("start", 2), ("start", 4)]
    assert engine.stats.retrains == 1 + 2 + 1 + 10
    assert set(engine.starts(toy, recipe, [4, 2])) == {2, 4}
    assert engine.stats.retrains == 14


def test_results_do_not_depend_on_chunking_or_order(toy):
    edits = [Edit.baseline(), *removals(12), ACTIONS["upweight"].edit([1, 2])]
    members = [Member(0), Member(1)]
    whole = Engine(RunConfig(use_cache=False)).predict(toy, Fake(chunk=100), edits, members)
    pieces = Engine(RunConfig(use_cache=False)).predict(toy, Fake(chunk=3), edits[::-1], members)[::-1]
    np.testing.assert_array_equal(pieces, whole)
    calls = [c for c in CALLS if c[0] == "predict"]
    assert [len(c[2]) for c in calls] == [14, 14] + [3, 3, 3, 3, 2] * 2


def test_logistic_results_do_not_depend_on_chunking_or_order(credit):
    class SmallChunks(LogisticSGDRecipe):
        @property
        def chunk_size(self) -> int:
            return 7

    edits = [ACTIONS["remove"].edit([i]) for i in range(40)]
    members = [Member(0), Member(1)]
    whole = Engine(RunConfig(use_cache=False)).predict(credit, LogisticSGDRecipe(), edits, members)
    reversed_ = Engine(RunConfig(use_cache=False)).predict(credit, SmallChunks(), edits[::-1], members)[::-1]
    np.testing.assert_allclose(reversed_, whole, atol=1e-12, rtol=0)
    assert np.abs(whole - whole[:1]).max() > 1e-4  # the edits do change the predictions


def test_members_mix_seeds_and_checkpoints(credit):
    recipe = paper_sgd()  # checkpoints 30/40/50 of one run per seed
    members = recipe.members(4)
    assert members == [Member(0, 0), Member(0, 1), Member(0, 2), Member(1, 0)]
    edits = [Edit.baseline(), ACTIONS["remove"].edit([4])]
    engine = Engine(RunConfig(use_cache=False))
    got = engine.predict(credit, recipe, edits, members)
    seed0 = recipe.fit_predict(credit, edits, seed=0)
    seed1 = recipe.fit_predict(credit, edits, seed=1)
    np.testing.assert_array_equal(got[:, :3], seed0)  # members 0-2: seed 0 at epochs 30, 40, 50
    np.testing.assert_array_equal(got[:, 3], seed1[:, 0])  # member 3: seed 1 at epoch 30
    assert engine.stats.retrains == 4  # two edits for each of two seeds: checkpoints are free


def test_second_request_is_served_from_the_cache_with_progress(credit, tmp_path):
    recipe = LogisticSGDRecipe()
    members = recipe.members(3)
    edits = [ACTIONS["upweight"].edit([i]) for i in range(30)]
    first = Engine(RunConfig(cache_dir=str(tmp_path)))
    seen_first: list[Progress] = []
    a = first.predict(credit, recipe, edits, members, progress=seen_first.append)
    assert [(p.done, p.total, p.cached) for p in seen_first] == [(0, 90, 0), (30, 90, 0), (60, 90, 0), (90, 90, 0)]
    second = Engine(RunConfig(cache_dir=str(tmp_path)))
    seen: list[Progress] = []
    b = second.predict(credit, recipe, edits, members, progress=seen.append)
    assert (first.stats.retrains, first.stats.cache_hits) == (90, 0)
    assert (second.stats.retrains, second.stats.cache_hits) == (0, 90)
    assert [(p.done, p.total, p.cached) for p in seen] == [(90, 90, 90)]
    np.testing.assert_array_equal(a, b)


def test_progress_arithmetic():
    p = Progress(done=30, total=90, cached=10, elapsed=4.0)
    assert p.fraction == pytest.approx(1 / 3) and p.rate == 5.0 and p.eta == 12.0
    assert p.describe() == "30/90 models (10 cached), 5.0/s, ETA 12s"
    assert Progress(10, 90, 10, 0.0).eta is None and Progress(10, 90, 10, 0.0).describe().endswith("ETA ?")
    assert Progress(90, 90, 0, 3.0).eta == 0.0
    assert Progress(0, 0, 0, 0.0).fraction == 1.0


def test_analysis_counts_baseline_ranking_effect_and_candidates(credit):
    analysis = Analysis(credit, LogisticSGDRecipe(), RunConfig(ensemble=3, use_cache=False))
    group = analysis.errors.groups[0]
    assert analysis.engine.stats.retrains == 3
    result = analysis.attribute(group, "remove", "loss", size=5)
    assert result.selected  # so the group effect is retrained too
    assert analysis.engine.stats.retrains == 3 + 3 * credit.n_train + 3
    fast = Analysis(credit, LogisticSGDRecipe(), RunConfig(ensemble=3, use_cache=False, candidates=20))
    fast.ranking(fast.errors.groups[0], "remove", "loss")
    # Baseline, one influence estimate per seed (it trains the seed's model), 20 + 10 candidates.
    assert fast.engine.stats.retrains == 3 + 3 + 3 * 30


def test_an_interrupted_run_resumes_with_only_the_missing_units(toy, tmp_path):
    recipe = Fake(chunk=5)
    edits = removals(15)  # 3 units per seed
    members = recipe.members(3)
    reference = Engine(RunConfig(use_cache=False)).predict(toy, recipe, edits, members)
    config = RunConfig(cache_dir=str(tmp_path))
    INTERRUPT.add(1)  # units run seed by seed: seed 0 finishes, seed 1 is interrupted
    with pytest.raises(KeyboardInterrupt):
        Engine(config).predict(toy, recipe, edits, members)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 3
    INTERRUPT.clear()
    CALLS.clear()
    resumed = Engine(config)
    np.testing.assert_array_equal(resumed.predict(toy, recipe, edits, members), reference)
    assert (resumed.stats.retrains, resumed.stats.cache_hits) == (30, 15)
    assert sorted({c[1] for c in CALLS}) == [1, 2]


KILLED_RUN = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np, pandas as pd
    from tda_core._actions import ACTIONS
    from tda_core.data import tabular_dataset
    from tda_core._engine import Engine, RunConfig
    from tda_core.recipes._base import Recipe, edited_arrays

    class Slow(Recipe):
        @property
        def chunk_size(self):
            return 4

        def fit_predict(self, data, edits, seed, eval_on="test", start=None):
            time.sleep(float(os.environ.get("UNIT_SECONDS", "0")))
            Y, W = edited_arrays(data, edits)
            p1 = 0.3 + (W * (Y + 1)).sum(axis=1) / 1000 + 0.01 * seed
            return np.stack([1 - p1, p1], axis=-1)[:, None, None, :].repeat(data.n_test, axis=2)

    frame = pd.DataFrame({"x": np.arange(30.0), "label": ["a", "b"] * 15})
    data = tabular_dataset(frame[:20], frame[20:], "label")
    recipe = Slow()
    edits = [ACTIONS["remove"].edit([i]) for i in range(20)]  # 5 units per seed, 10 in all
    engine = Engine(RunConfig(cache_dir=sys.argv[1] or None, use_cache=bool(sys.argv[1])))
    proba = engine.predict(data, recipe, edits, recipe.members(2))
    print(json.dumps({"proba": proba.tolist(), "retrains": engine.stats.retrains, "cache_hits": engine.stats.cache_hits}))
    """
)


@pytest.mark.slow
def test_a_killed_process_resumes_with_only_the_missing_units(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(cache: str) -> dict:
        proc = subprocess.run([sys.executable, str(script), cache], capture_output=True, text=True, env=env, timeout=300, check=True)
        return json.loads(proc.stdout)

    reference = run("")
    assert (reference["retrains"], reference["cache_hits"]) == (40, 0)
    cache = tmp_path / "cache"
    # Each unit takes a second, so the process is killed with units finished and units left.
    proc = subprocess.Popen([sys.executable, str(script), str(cache)], env=dict(env, UNIT_SECONDS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.rglob("*.safetensors"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished = len(list(cache.rglob("*.safetensors")))
    assert 3 <= finished < 10, finished
    resumed = run(str(cache))
    assert resumed["proba"] == reference["proba"]
    assert (resumed["retrains"], resumed["cache_hits"]) == (40 - 4 * finished, 4 * finished)


ORPHANED_RUN = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np, pandas as pd
    from tda_core._actions import ACTIONS
    from tda_core.data import tabular_dataset
    from tda_core._engine import Engine, RunConfig
    from tda_core.recipes._base import Recipe

    class Busy(Recipe):
        @property
        def chunk_size(self):
            return 1

        def fit_predict(self, data, edits, seed, eval_on="test", start=None):
            open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").close()
            end = time.monotonic() + 120  # busy, not waiting on the pool: a plain loky worker would finish this first
            while time.monotonic() < end:
                sum(range(1000))
            return np.full((len(edits), 1, data.n_test, 2), 0.5)

    frame = pd.DataFrame({"x": np.arange(30.0), "label": ["a", "b"] * 15})
    data = tabular_dataset(frame[:20], frame[20:], "label")
    edits = [ACTIONS["remove"].edit([i]) for i in range(4)]
    Engine(RunConfig(n_jobs=2, use_cache=False)).predict(data, Busy(), edits, Busy().members(1))
    """
)


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2 or sys.platform != "linux", reason="two loky workers, Linux process ids")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    script, pids = tmp_path / "run.py", tmp_path / "pids"
    script.write_text(ORPHANED_RUN)
    pids.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(pids)], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    workers = [int(p.stem) for p in pids.iterdir()]
    assert len(workers) == 2 and proc.pid not in workers

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0  # a zombie has ended

    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers), "loky workers outlived their killed parent"


def test_probe_refuses_addresses_that_are_not_tcp_host_port():
    from tda_core._engine import probe_dask_scheduler
    from tda_core._exceptions import BackendError

    for address in ("tcp://:8786", "tcp://host", "tcp://host:0", "tcp://host:99999"):
        with pytest.raises(BackendError, match=r"should look like tcp://HOST:8786"):
            probe_dask_scheduler(address, timeout=0.1)
    probe_dask_scheduler("tls://10.0.0.1:8786", timeout=0.1)  # other transports are left to Dask


def test_a_cached_start_with_the_wrong_arrays_is_retrained(toy, tmp_path):
    recipe = Started(start=1)
    engine = Engine(RunConfig(cache_dir=str(tmp_path)))
    engine.starts(toy, recipe, [0])
    key = ("start", toy.fingerprint, recipe.fingerprint(), 0)
    engine.cache.store(key, {"proba": np.ones((2, 2))})  # a foreign entry under the start's key
    again = Engine(RunConfig(cache_dir=str(tmp_path)))
    start = again.starts(toy, recipe, [0])[0]
    assert set(start) == {"shift"} and again.stats.retrains == 1


def test_threads_give_the_same_numbers(credit):
    edits = [ACTIONS["relabel"].edit([i], 1 - credit.y_train) for i in range(20)]
    members = [Member(0), Member(1), Member(2)]
    sequential = Engine(RunConfig(use_cache=False)).predict(credit, LogisticSGDRecipe(epochs=3), edits, members)
    threaded = Engine(RunConfig(use_cache=False, backend="threading", n_jobs=2))
    np.testing.assert_array_equal(threaded.predict(credit, LogisticSGDRecipe(epochs=3), edits, members), sequential)
    assert threaded.stats.retrains == 60


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "spark"}, "unknown backend 'spark': choose one of loky, threading, dask, ray"),
        ({"ensemble": 0}, "the ensemble needs at least one member, not 0"),
        ({"candidates": 0}, "the number of candidates must be at least 1, not 0"),
        ({"ensemble": 101}, "the ensemble can have at most 100 members, not 101"),
        ({"seed": -1}, "the seed must lie between 0 and 4294967195, not -1"),
        ({"seed": 2**32}, "the seed must lie between 0 and 4294967195, not 4294967296"),
        ({"n_jobs": -2}, rf"the number of parallel jobs must lie between 1 and the {os.cpu_count()} cores of this machine, or be -1 for all of them or 0 \(auto\) for the idle ones, not -2"),
        ({"n_jobs": (os.cpu_count() or 1) + 1}, "the number of parallel jobs must lie between 1 and the"),
        ({"candidates": 10**7}, "the number of candidates can be at most 1,000,000, not 10000000"),
    ],
)
def test_bad_run_configs_are_refused(kwargs, message):
    with pytest.raises(UsageError, match=message):
        RunConfig(**kwargs)


def test_the_ray_backend_without_ray_says_how_to_get_it(toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    monkeypatch.setitem(sys.modules, "ray.util", None)
    monkeypatch.setitem(sys.modules, "ray.util.joblib", None)
    engine = Engine(RunConfig(backend="ray", use_cache=False))
    with pytest.raises(UsageError, match=r"the ray backend needs ray \(pip install 'ray\[default\]'\); or use the dask backend"):
        engine.predict(toy, Fake(), removals(2), [Member(0)])
    assert engine.stats.retrains == 0


@pytest.mark.slow
def test_ray_gives_the_same_numbers(credit):
    pytest.importorskip("ray")
    edits = [ACTIONS["remove"].edit([i]) for i in range(20)]
    members = [Member(0), Member(1)]
    expected = Engine(RunConfig(use_cache=False)).predict(credit, LogisticSGDRecipe(epochs=3), edits, members)
    engine = Engine(RunConfig(use_cache=False, backend="ray"))
    np.testing.assert_array_equal(engine.predict(credit, LogisticSGDRecipe(epochs=3), edits, members), expected)
    assert engine.stats.retrains == 40


@pytest.mark.slow
def test_network_starts_and_estimates_are_counted(tiny_images, tmp_path):
    from tda_core.recipes.torch._networks import ARCHITECTURES
    from tda_core.recipes.torch._recipe import TorchRecipe

    data = tiny_images
    edits = [Edit.baseline(), *removals(3)]
    loss, remove = METRICS["loss"], ACTIONS["remove"]
    tests, y_pred = np.arange(4), data.y_test[:4]
    head = TorchRecipe(epochs=2, batch_size=8, mode="head", head_epochs=3)
    engine = Engine(RunConfig(cache_dir=str(tmp_path)))
    engine.predict(data, head, edits, head.members(2))
    assert engine.stats.retrains == 2 + 2 * 4  # the feature network of each seed, then the heads
    engine.estimate(data, head, [0, 1], remove, 1 - data.y_train, tests, y_pred, loss)
    assert engine.stats.retrains == 10 + 2  # head mode: each estimate trains the seed's baseline head
    # Full mode: the estimate reads the seed's start network (trained, counted) and trains nothing more.
    full = TorchRecipe(epochs=2, batch_size=8)
    engine.estimate(data, full, [0, 1], remove, 1 - data.y_train, tests, y_pred, loss)
    assert engine.stats.retrains == 12 + 2
    # Uploaded weights: the start is read off the weights, not trained.
    state = ARCHITECTURES["small_cnn"](data.n_classes, data.X_train.shape[1:]).state_dict()
    uploaded = TorchRecipe(epochs=2, batch_size=8, mode="head", head_epochs=3, initial_state=state)
    engine.predict(data, uploaded, edits, uploaded.members(2))
    assert engine.stats.retrains == 14 + 2 * 4
    assert engine.stats.cache_hits == 0
    again = Engine(RunConfig(cache_dir=str(tmp_path)))
    again.predict(data, head, edits, head.members(2))
    again.estimate(data, full, [0, 1], remove, 1 - data.y_train, tests, y_pred, loss)
    assert (again.stats.retrains, again.stats.cache_hits) == (0, 10 + 2)


def test_a_warm_started_baseline_fit_is_counted(credit):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tda_core.recipes import SklearnRecipe
    from tda_core.recipes._preprocessing import tabular_preprocessor

    warm = SklearnRecipe(make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=1000)), warm_start=True)
    engine = Engine(RunConfig(use_cache=False))
    engine.predict(credit, warm, [ACTIONS["remove"].edit([i]) for i in range(3)], [Member(0), Member(1)])
    assert engine.stats.retrains == 2 * (3 + 1)  # per seed: the baseline it starts from, and the three edits
    engine.predict(credit, warm, [Edit.baseline()], [Member(0)])
    assert engine.stats.retrains == 8 + 1  # the baseline alone needs no extra fit


def test_progress_names_its_phase_and_estimates_report_per_seed(credit, tmp_path):
    """Preprocessing, estimates and retraining each report progress a user can read."""
    from tda_core import Analysis, default_recipe
    from tda_core.recipes._design import _designs

    _designs.pop(credit.fingerprint, None)  # so this process builds the design matrices again
    seen: list[Progress] = []
    analysis = Analysis(credit, default_recipe(credit), RunConfig(ensemble=2, cache_dir=str(tmp_path), candidates=10), seen.append)
    group = analysis.errors.groups[0]
    analysis.ranking(group, "remove", "loss")
    phases = {p.phase for p in seen}
    assert {"preprocessing", "estimates (Hessian and gradients)", "retraining"} <= phases
    estimates = [p for p in seen if p.phase.startswith("estimates")]
    assert estimates[-1].done == estimates[-1].total == 2 and estimates[-1].unit == "seeds"
    assert estimates[-1].describe().startswith("estimates (Hessian and gradients): 2/2 seeds")
    assert [p.done for p in seen if p.phase == "preprocessing"] == [0, 1]
