"""bench/gpu_check.sh, the prepared GPU check, run at its tiny size on the CPU: the CUDA tests
are collected (and skipped here, with the reason), and the ResNet-18 ranking runs through the
recipe and the engine, stacked, and prints what the GPU run will report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_at_its_tiny_size_on_the_cpu(tmp_path):
    env = os.environ | {"GPU_CHECK_TINY": "1", "GPU_CHECK_OUT": str(tmp_path), "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    # 1. the CUDA tests: every test marked gpu, here skipped because torch sees no GPU
    assert "CUDA tests (-m gpu) in tests/recipes/torch/test_device.py" in out
    assert "needs a CUDA GPU" in out and "4 skipped" in out and "CUDA tests exit status 0" in out
    assert "skipped" in (tmp_path / "gpu_tests.log").read_text()
    # 2. the ranking: 20 pictures at 32 px, 1 epoch, on the CPU, stacked 2 a unit
    result = json.loads((tmp_path / "gpu_ranking.json").read_text())
    assert json.loads(out.strip().splitlines()[-2]) == result
    assert (result["images"], result["test"], result["size"], result["epochs"]) == (20, 10, 32, 1)
    assert result["stack"] == 2 and result["stacked"] and result["chunk"] == 2
    assert result["ranked"] == 20 and result["retrains"] == 21 and result["finite"]  # 1 baseline + 20 counterfactuals
    assert result["models_per_s"] > 0 and result["peak_memory_bytes"] > 0
    assert result["full_ranking_3_seeds_s"] == pytest.approx(3 * (result["baseline_s"] + result["ranking_one_seed_s"]), abs=0.2)
    for line in ("models per second", "peak RSS (CPU run):", "full ranking with 3 seeds (3 baselines + 60 counterfactuals)"):
        assert line in out
    assert out.strip().splitlines()[-1].startswith("== gpu_check: done in")
