"""The Dask backend: a real two-worker LocalCluster gives the local numbers, survives a worker
killed mid-run, and an unreachable scheduler is one clear error."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tda_core.actions import ACTIONS
from tda_core.engine import Engine, RunConfig
from tda_core.exceptions import UsageError
from tda_core.recipes import LogisticSGDRecipe
from tda_core.recipes.base import Member

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = [Member(0), Member(1)]

pytestmark = pytest.mark.slow  # a cluster of worker processes takes seconds to start


class SmallUnits(LogisticSGDRecipe):
    """Many small units (16 edits each), so work spreads over both workers and is still running
    when one of them dies."""

    @property
    def chunk_size(self) -> int:
        return 16


@pytest.fixture(scope="module")
def cluster():
    import distributed

    with pytest.MonkeyPatch.context() as mp:
        # Workers unpickle SmallUnits from this module: they need tests/ on their path.
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")])))
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            yield c


def edits(action: str, n: int):
    return [ACTIONS[action].edit([i], None if action != "relabel" else np.arange(700) % 2) for i in range(n)]


def test_dask_equals_the_local_backend(cluster, credit, tmp_path):
    expected = Engine(RunConfig(use_cache=False)).predict(credit, SmallUnits(epochs=40), edits("upweight", 96), MEMBERS)
    remote = Engine(RunConfig(backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path)))
    got = remote.predict(credit, SmallUnits(epochs=40), edits("upweight", 96), MEMBERS)
    np.testing.assert_array_equal(got, expected)
    assert (remote.stats.retrains, remote.stats.cache_hits) == (96 * 2, 0)
    # The client wrote every unit to its own cache: a rerun trains nothing.
    again = Engine(RunConfig(backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path)))
    np.testing.assert_array_equal(again.predict(credit, SmallUnits(epochs=40), edits("upweight", 96), MEMBERS), expected)
    assert (again.stats.retrains, again.stats.cache_hits) == (0, 96 * 2)


def test_a_killed_worker_does_not_stop_the_job(cluster, credit, tmp_path):
    from distributed import Client

    expected = Engine(RunConfig(use_cache=False)).predict(credit, SmallUnits(epochs=40), edits("remove", 160), MEMBERS)
    with Client(cluster.scheduler_address) as client:
        victim = next(iter(client.run(os.getpid).values()))  # a worker process's pid
    killed: list[int] = []

    def kill_one_worker(progress):
        if not killed and progress.done - progress.cached >= 48:
            os.kill(victim, signal.SIGKILL)
            killed.append(progress.done)

    config = RunConfig(backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path))
    engine = Engine(config)
    got = engine.predict(credit, SmallUnits(epochs=40), edits("remove", 160), MEMBERS, progress=kill_one_worker)
    assert killed and killed[0] < 320, "the worker should have been killed mid-run"
    np.testing.assert_array_equal(got, expected)
    assert engine.stats.retrains == 320
    again = Engine(config)
    np.testing.assert_array_equal(again.predict(credit, SmallUnits(epochs=40), edits("remove", 160), MEMBERS), expected)
    assert again.stats.retrains == 0


def test_a_local_cluster_when_no_scheduler_is_given(credit, tmp_path):
    expected = Engine(RunConfig(use_cache=False)).predict(credit, LogisticSGDRecipe(epochs=3), edits("relabel", 20), MEMBERS)
    engine = Engine(RunConfig(backend="dask", n_jobs=2, use_cache=False))
    np.testing.assert_array_equal(engine.predict(credit, LogisticSGDRecipe(epochs=3), edits("relabel", 20), MEMBERS), expected)
    assert engine.stats.retrains == 40


def test_an_unreachable_scheduler_is_one_clear_error(credit):
    engine = Engine(RunConfig(backend="dask", scheduler="tcp://127.0.0.1:9", use_cache=False))
    with pytest.raises(UsageError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 \(\w+\); start one with `dask scheduler` or check the address"):
        engine.predict(credit, LogisticSGDRecipe(epochs=3), edits("remove", 2), MEMBERS)
    assert engine.stats.retrains == 0
