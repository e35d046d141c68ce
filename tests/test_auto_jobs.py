"""``n_jobs=AUTO_JOBS`` (the default; ``--n-jobs auto``): work runs in this process unless what is
left after its first unit is long enough to repay starting workers, then on the idle cores, as
far as the memory budget holds them, with the same numbers as one process."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from cli_run import run

from tda_core import Analysis, RunConfig, limits
from tda_core._actions import ACTIONS
from tda_core._engine import Engine
from tda_core.recipes import LogisticSGDRecipe
from tda_core.recipes._base import Member

MEMBERS = [Member(0), Member(1), Member(2)]


def relabels(data, n: int):
    return [ACTIONS["relabel"].edit([i], 1 - data.y_train) for i in range(n)]


def test_idle_cores_are_what_other_work_leaves(monkeypatch):
    """The CPUs' busy share, measured: all busy -> 1 (never 0), half busy on 4 cores -> 2."""
    import psutil

    monkeypatch.setattr(limits, "cores", lambda: 4)
    for percent, idle in ((100.0, 1), (50.0, 2), (0.0, 4)):
        monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None, p=percent: p)
        assert limits.idle_cores() == idle
    monkeypatch.undo()
    assert 1 <= limits.idle_cores() <= limits.cores()  # the real measurement


def test_auto_is_the_default_and_short_work_stays_in_this_process(credit):
    assert RunConfig().n_jobs == limits.AUTO_JOBS == 0
    engine = Engine(RunConfig(use_cache=False))
    engine.auto_workers = 2  # the budget would hold two: the work is too short to start them
    engine.predict(credit, LogisticSGDRecipe(epochs=3), relabels(credit, 20), MEMBERS)
    assert engine.stats.workers == 1 and engine.stats.retrains == 60


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_long_work_widens_to_the_idle_cores_with_the_same_numbers(credit, monkeypatch):
    """Long work (here: any, the threshold set to 0) runs its first unit here, then the rest on
    two loky workers; every probability is the one a single process gives."""
    edits = relabels(credit, 20)
    alone = Engine(RunConfig(use_cache=False, n_jobs=1)).predict(credit, LogisticSGDRecipe(epochs=3), edits, MEMBERS)
    monkeypatch.setattr("tda_core._engine.AUTO_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr("tda_core._engine.idle_cores", lambda: 2)
    engine = Engine(RunConfig(use_cache=False))
    engine.auto_workers = 2
    np.testing.assert_array_equal(engine.predict(credit, LogisticSGDRecipe(epochs=3), edits, MEMBERS), alone)
    assert engine.stats.workers == 2 and engine.stats.retrains == 60
    busy = Engine(RunConfig(use_cache=False))  # the budget holds two, but no core is idle
    busy.auto_workers = 2
    monkeypatch.setattr("tda_core._engine.idle_cores", lambda: 1)
    np.testing.assert_array_equal(busy.predict(credit, LogisticSGDRecipe(epochs=3), edits, MEMBERS), alone)
    assert busy.stats.workers == 1


def test_auto_widens_only_as_far_as_the_memory_budget_holds(credit, monkeypatch):
    """The workers a ranking may widen to are those whose priced peak fits ``max_memory``: between
    the one-worker and the two-worker estimate, one; above the two-worker estimate, two."""
    monkeypatch.setattr(limits, "current_rss", lambda: 0)
    monkeypatch.setattr(limits, "cores", lambda: 4)
    recipe = LogisticSGDRecipe()
    one, two = (limits.check_run(credit, recipe, RunConfig(n_jobs=k), ranking=True).memory for k in (1, 2))
    assert two > one
    between = RunConfig(max_memory=(one + two) // 2)
    assert limits.workers_within_budget(credit, recipe, between, most=2) == 1
    assert limits.workers_within_budget(credit, recipe, RunConfig(max_memory=two + 1), most=4) >= 2
    assert limits.workers_within_budget(credit, recipe, RunConfig(max_memory=two + 1), most=1) == 1


def test_a_ranking_sets_what_auto_may_widen_to(credit, monkeypatch, tmp_path):
    """Analysis prices the ranking's workers before it trains: auto may use every core the budget
    holds (two here); a fixed number is left as it is."""
    monkeypatch.setattr("tda_core._analysis.cores", lambda: 2)
    monkeypatch.setattr(limits, "cores", lambda: 2)
    # A budget the two workers fit whatever this test process holds already (each is priced at its size).
    auto = Analysis(credit, LogisticSGDRecipe(epochs=2), RunConfig(cache_dir=str(tmp_path), max_memory=64 * limits.GiB))
    auto.ranking(auto.group("bad", "good"), "remove", "loss")
    assert auto.engine.auto_workers == 2
    fixed = Analysis(credit, LogisticSGDRecipe(epochs=2), RunConfig(cache_dir=str(tmp_path), n_jobs=1))
    fixed.ranking(fixed.group("bad", "good"), "remove", "loss")
    assert fixed.engine.auto_workers == 1 and fixed.engine.stats.workers == 1


def test_the_command_line_takes_auto_and_reports_the_workers(tmp_path, capsys):
    args = ("errors", "--demo", "credit", "--epochs", "2", "--json")
    code, out, err = run(*args, "--n-jobs", "auto", cache=tmp_path, capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["timing"]["workers"] == 1  # a baseline of three models: no workers started
    code, out, err = run(*args, "--n-jobs", "many", cache=tmp_path, capsys=capsys)
    assert code == 2 and "expected a number of workers, -1 or auto, got 'many'" in err


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_the_priced_peak_of_two_workers_holds_their_measured_memory(credit, tmp_path):
    """The promise itself: a credit ranking on two loky workers, the summed RSS of this process and
    its workers sampled every 20 ms, stays under what the budget check priced for two workers
    (each worker process is priced at this process's size; without that, the workers' own
    interpreters and libraries were missing from the price)."""
    import contextlib
    import threading
    import time

    import psutil

    me, peak, running = psutil.Process(), [0], [True]

    def sample() -> None:
        while running[0]:
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            peak[0] = max(peak[0], total)
            time.sleep(0.02)

    config = RunConfig(cache_dir=str(tmp_path), n_jobs=2, max_memory=64 * limits.GiB)  # the price is what is tested
    analysis = Analysis(credit, LogisticSGDRecipe(epochs=3), config)
    group = analysis.group("bad", "good")
    priced = limits.check_run(credit, analysis.recipe, config, ranking=True, kept_rows=len(analysis.errors.error_indices)).memory
    alone = limits.check_run(credit, analysis.recipe, RunConfig(cache_dir=str(tmp_path), n_jobs=1, max_memory=64 * limits.GiB), ranking=True,
                             kept_rows=len(analysis.errors.error_indices)).memory
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        analysis.ranking(group, "remove", "loss")
    finally:
        running[0] = False
        thread.join()
    assert analysis.engine.stats.workers == 2
    assert alone < peak[0] <= priced, (alone, peak[0], priced)  # one process's price would not hold two workers


def test_a_ranking_pace_trains_its_first_unit_once(credit, tmp_path):
    """Analysis.ranking_pace trains the ranking's first unit (and caches it): the ranking then
    trains every other unit and reads that one; the pace's time is that of one unit per unit,
    shared by the workers after the engine's own first unit."""
    from tda_core import Pace

    recipe = LogisticSGDRecipe(epochs=2)
    analysis = Analysis(credit, recipe, RunConfig(cache_dir=str(tmp_path), n_jobs=1))
    analysis.compute_baseline()
    before = analysis.engine.stats.retrains
    pace = analysis.ranking_pace("remove", analysis.group("bad", "good"))
    unit = min(recipe.chunk_for(credit), credit.n_train)
    assert pace is not None and pace.workers == 1 and pace.unit_models == unit and pace.models_per_second > 0
    assert analysis.engine.stats.retrains - before == unit
    analysis.ranking(analysis.group("bad", "good"), "remove", "loss")
    assert analysis.engine.stats.retrains - before == credit.n_train * 3  # the probed unit is not trained again
    assert analysis.ranking_pace("remove", analysis.group("bad", "good")) is None  # the work is done
    assert Pace(10.0, 1, 30).seconds(900) == 90.0
    assert Pace(10.0, 2, 30).seconds(900) == (30 + 870 / 2) / 10.0  # the first unit alone, then two workers
    assert Analysis(credit, recipe, RunConfig(use_cache=False)).ranking_pace("remove") is None  # no cache: it would train twice
