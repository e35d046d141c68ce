"""The Dask backend: a real two-worker LocalCluster, equal results, and a worker killed mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tda_core.analysis import Analysis
from tda_core.attribution import single_edits
from tda_core.demos import load_demo
from tda_core.engine import RunConfig
from tda_core.logistic import LogisticSGDRecipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _recipe():
    # Many small units (16 edits each), so work is spread over both workers and still running when one dies.
    recipe = LogisticSGDRecipe(epochs=40)
    recipe.chunk_size = 16
    return recipe


def test_dask_equals_local_backend(cluster, tmp_path):
    data = load_demo("credit")
    local = Analysis(data, _recipe(), RunConfig(ensemble=2, use_cache=False))
    remote = Analysis(data, _recipe(), RunConfig(ensemble=2, backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path)))
    edits = single_edits("upweight", data, local.baseline)[:96]
    expected = local.engine.predict(data, local.recipe, edits)
    got = remote.engine.predict(data, remote.recipe, edits)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert remote.engine.stats.retrains == 96 * 2 + 2  # + the baseline of each seed


def test_killed_worker_does_not_stop_the_job(cluster, tmp_path):
    from distributed import Client

    data = load_demo("credit")
    edits_of = lambda a: single_edits("remove", data, a.baseline)[:160]  # noqa: E731
    reference = Analysis(data, _recipe(), RunConfig(ensemble=2, use_cache=False))
    expected = reference.engine.predict(data, reference.recipe, edits_of(reference))

    with Client(cluster.scheduler_address) as client:
        victim = next(iter(client.run(os.getpid).values()))  # a worker process's pid
    killed = []

    def kill_one_worker(progress):
        if not killed and progress.done - progress.cached >= 48:
            os.kill(victim, signal.SIGKILL)
            killed.append(progress.done)

    config = RunConfig(ensemble=2, backend="dask", scheduler=cluster.scheduler_address, cache_dir=str(tmp_path))
    remote = Analysis(data, _recipe(), config)
    got = remote.engine.predict(data, remote.recipe, edits_of(remote), progress=kill_one_worker)
    assert killed, "the worker should have been killed mid-run"
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # The cache written by the client is complete and readable: a rerun trains nothing.
    again = Analysis(data, _recipe(), config)
    np.testing.assert_allclose(again.engine.predict(data, again.recipe, edits_of(again)), expected, atol=1e-9)
    assert again.engine.stats.retrains == 0
