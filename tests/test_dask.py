"""The Dask backend: a real two-worker LocalCluster gives the local numbers (the credit demo, and an
exact ranking of a census income sample), streams every finished unit into the client's cache,
survives a worker killed mid-run, bounds each worker's memory, and an unreachable scheduler or
workers that keep dying are one clear error."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from tda_core._actions import ACTIONS
from tda_core._engine import MIN_WORKER_MEMORY, Engine, RunConfig, local_cluster_plan
from tda_core._exceptions import BackendError, UsageError
from tda_core.limits import GiB
from tda_core.recipes import LogisticSGDRecipe
from tda_core.recipes._base import Member

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = [Member(0), Member(1)]

# Tests that start a cluster of worker processes (seconds) are marked slow one by one.


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
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      scheduler_kwargs={"dashboard": False}) as c:
            yield c


def edits(action: str, n: int):
    return [ACTIONS[action].edit([i], None if action != "relabel" else np.arange(700) % 2) for i in range(n)]


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_local_cluster_when_no_scheduler_is_given(credit, tmp_path):
    expected = Engine(RunConfig(use_cache=False)).predict(credit, LogisticSGDRecipe(epochs=3), edits("relabel", 20), MEMBERS)
    engine = Engine(RunConfig(backend="dask", n_jobs=2, use_cache=False, max_memory=3 * GiB))
    np.testing.assert_array_equal(engine.predict(credit, LogisticSGDRecipe(epochs=3), edits("relabel", 20), MEMBERS), expected)
    assert engine.stats.retrains == 40
    # Two one-thread workers, each with an equal share of the 3 GiB budget that this process leaves.
    workers = list(engine.dask_workers.values())
    assert len(workers) == 2 and {w["nthreads"] for w in workers} == {1}
    limits = {w["memory_limit"] for w in workers}
    assert len(limits) == 1
    assert MIN_WORKER_MEMORY <= limits.pop() <= 1.5 * GiB


def test_a_local_cluster_shares_the_budget_among_its_workers():
    assert local_cluster_plan(2, 4 * GiB, in_use=GiB) == (2, 3 * GiB // 2)
    assert local_cluster_plan(8, 4 * GiB, in_use=0) == (8, GiB // 2)
    # Shares under the minimum: fewer workers, each with at least the minimum.
    assert local_cluster_plan(16, 4 * GiB, in_use=GiB) == (6, 3 * GiB // 6)
    assert local_cluster_plan(4, 1 * GiB, in_use=900 * 2**20) == (1, MIN_WORKER_MEMORY)


@pytest.mark.slow
def test_an_exact_census_ranking_on_two_workers_equals_the_local_run(cluster, tmp_path):
    """Every training row of a census income sample removed, 2 members: the ranking of a
    two-worker cluster equals the local (loky) one exactly, each finished unit is in the client's
    cache while the run still goes on, and a rerun trains nothing."""
    from tda_core import Analysis, default_recipe
    from tda_core.data._demos import load_census

    data = load_census(1500, 300)
    recipe = default_recipe(data)
    local = Analysis(data, recipe, RunConfig(ensemble=2, use_cache=False))
    # One BLAS thread, as in each Dask worker: a multi-threaded product may sum in another order.
    with threadpool_limits(1):
        group = local.errors.groups[0]
        expected = local.ranking(group, "remove", "loss")

    config = RunConfig(ensemble=2, backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path))
    remote = Analysis(data, recipe, config)
    assert remote.errors.groups[0] == group
    seen: list[tuple[int, int, int]] = []

    def cache_entries() -> int:
        return sum(1 for _ in tmp_path.rglob("*.safetensors"))

    before = cache_entries()  # the baseline's unit
    got = remote.ranking(group, "remove", "loss", progress=lambda p: seen.append((p.done, p.total, cache_entries() - before)))
    for name in ("index", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean", "accuracy_delta_std"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert got.reliability == expected.reliability
    units = len(range(0, data.n_train, recipe.chunk_for(data))) * 2  # chunks x seeds
    assert units >= 4
    assert remote.engine.stats.retrains == local.engine.stats.retrains == 2 + 2 * data.n_train  # the baseline's 2 members, then each row
    # Streamed: after each unit the client had stored it, before the last one arrived.
    assert [entries for done, total, entries in seen if 0 < done < total] == list(range(1, units))
    assert len(remote.engine.dask_workers) == 2 and all(w["memory_limit"] > 0 for w in remote.engine.dask_workers.values())

    again = Analysis(data, recipe, config)
    np.testing.assert_array_equal(again.ranking(group, "remove", "loss").delta_mean, expected.delta_mean)
    assert again.engine.stats.retrains == 0


@pytest.mark.slow
def test_workers_without_a_memory_limit_are_reported(credit, caplog):
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, memory_limit=0, dashboard_address=":0",
                                  scheduler_kwargs={"dashboard": False}) as unbounded:
        engine = Engine(RunConfig(backend="dask", scheduler=unbounded.scheduler_address, use_cache=False))
        with caplog.at_level(logging.WARNING, logger="tda_core._engine"):
            engine.predict(credit, LogisticSGDRecipe(epochs=2), edits("remove", 2), MEMBERS)
    assert [w["memory_limit"] for w in engine.dask_workers.values()] == [0]
    assert f"1 of the 1 Dask workers at {unbounded.scheduler_address} have no memory limit" in caplog.text
    assert "--nthreads 1 --memory-limit 4GiB" in caplog.text


class DiesOnWorkers(LogisticSGDRecipe):
    """A unit that kills the worker process running it, as running out of memory does."""

    def __init__(self, client_pid: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.client_pid = client_pid

    def fit_predict(self, *args, **kwargs):
        if os.getpid() != self.client_pid:
            os._exit(1)
        return super().fit_predict(*args, **kwargs)


@pytest.mark.slow
def test_workers_that_keep_dying_are_one_clear_error(credit):
    engine = Engine(RunConfig(backend="dask", n_jobs=1, use_cache=False, max_memory=2 * GiB))
    with pytest.raises(BackendError, match=r"Dask workers died running the same unit of work again and again, "
                       r"most often out of memory: the workers have a memory limit of [\d.]+ [GM]iB; give each worker more"):
        engine.predict(credit, DiesOnWorkers(os.getpid(), epochs=2), edits("remove", 2), MEMBERS[:1])
    assert engine.stats.retrains == 0


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_clear_error(credit):
    engine = Engine(RunConfig(backend="dask", scheduler="tcp://127.0.0.1:9", use_cache=False))
    with pytest.raises(UsageError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 \(connection refused\); start one with `dask scheduler` or check the address"):
        engine.predict(credit, LogisticSGDRecipe(epochs=3), edits("remove", 2), MEMBERS)
    assert engine.stats.retrains == 0
