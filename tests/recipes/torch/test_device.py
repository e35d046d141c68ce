"""The device: ``auto`` (the GPU when torch sees one), ``cpu`` or ``cuda``; checked when the
recipe is used, not part of the cache key. CPU behaviour is tested everywhere; the CUDA tests run
only where ``torch.cuda.is_available()`` (they are skipped with the reason otherwise)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tda_core._actions import Edit
from tda_core._exceptions import ModelError
from tda_core.recipes.torch import _recipe as recipe_module
from tda_core.recipes.torch._networks import ARCHITECTURES, DEVICES, resolve_device
from tda_core.recipes.torch._recipe import TorchRecipe

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
EDITS = [Edit.baseline(), Edit("remove", (5,)), Edit("relabel", (7, 20), (1, 2)), Edit("upweight", (9,))]


def recipe(**kwargs) -> TorchRecipe:
    return TorchRecipe(**({"epochs": 3, "batch_size": 8, "head_epochs": 10} | kwargs))


def test_the_device_is_checked_when_used_and_does_not_key_the_cache(tiny_images):
    assert DEVICES == ("auto", "cpu", "cuda") and TorchRecipe().device == "auto"
    with pytest.raises(ModelError, match=r"unknown device 'tpu': choose one of auto, cpu, cuda"):
        TorchRecipe(device="tpu").validate(tiny_images)
    prints = {TorchRecipe(device=d).fingerprint() for d in DEVICES}
    assert len(prints) == 1  # results are paired and cached the same on any device
    assert TorchRecipe(device="cpu").describe()["device"] == "cpu"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert TorchRecipe().torch_device.type == ("cuda" if CUDA else "cpu")


@pytest.mark.skipif(CUDA, reason="on a machine with a GPU, device cuda is valid")
def test_cuda_is_refused_where_there_is_no_gpu(tiny_images):
    with pytest.raises(ModelError, match=r"device cuda: torch sees no CUDA GPU here; choose auto \(the GPU when there is one\) or cpu"):
        TorchRecipe(device="cuda").validate(tiny_images)


@pytest.mark.slow
@pytest.mark.skipif(CUDA, reason="auto is the GPU here, which may differ from the CPU in float rounding")
def test_auto_is_the_cpu_without_a_gpu(tiny_images):
    for mode in ("full", "head"):
        cpu, auto = recipe(mode=mode, device="cpu"), recipe(mode=mode)
        start = cpu.fit_start(tiny_images, seed=0) if mode == "head" else None
        np.testing.assert_array_equal(
            cpu.fit_predict(tiny_images, EDITS, seed=0, start=start), auto.fit_predict(tiny_images, EDITS, seed=0, start=start)
        )


@pytest.mark.slow
def test_uploaded_weights_extract_features_once_for_all_seeds(tiny_images, monkeypatch):
    calls = []
    original = recipe_module.penultimate

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(recipe_module, "penultimate", counted)
    torch.manual_seed(0)
    state = ARCHITECTURES["small_cnn"](3, tiny_images.X_train.shape[1:]).state_dict()
    head = recipe(mode="head", initial_state=state, device="cpu")
    first = head.fit_start(tiny_images, seed=0)
    assert len(calls) == 2  # training and test rows
    again = head.fit_start(tiny_images, seed=5)
    assert len(calls) == 2 and all(np.array_equal(first[k], again[k]) for k in first)
    first["F_train"][:] = 0  # the caller's copy: what is kept does not change
    assert np.abs(head.fit_start(tiny_images, seed=1)["F_train"]).max() > 0
    trained = recipe(mode="head", device="cpu")  # a trained start depends on its seed: extracted every time
    trained.fit_start(tiny_images, seed=0)
    trained.fit_start(tiny_images, seed=0)
    assert len(calls) == 6


# --- CUDA: run where a GPU is lent, skipped otherwise ---------------------------------------


@pytest.mark.gpu
@pytest.mark.slow
@needs_cuda
def test_head_mode_on_the_gpu_matches_the_cpu_and_repeats(tiny_images):
    cpu, gpu = recipe(mode="head", device="cpu"), recipe(mode="head", device="cuda")
    start = cpu.fit_start(tiny_images, seed=0)
    gpu_start = gpu.fit_start(tiny_images, seed=0)
    np.testing.assert_allclose(gpu_start["F_train"], start["F_train"], rtol=1e-3, atol=1e-3)
    on_cpu = cpu.fit_predict(tiny_images, EDITS, seed=0, start=start)
    on_gpu = gpu.fit_predict(tiny_images, EDITS, seed=0, start=start)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-4)
    # Deterministic kernels where CUDA has them: the same seed repeats (to float rounding at most).
    np.testing.assert_allclose(on_gpu, gpu.fit_predict(tiny_images, EDITS, seed=0, start=start), atol=1e-6)
    # The deltas are paired the same way on both devices.
    np.testing.assert_allclose(on_gpu[1:] - on_gpu[:1], on_cpu[1:] - on_cpu[:1], atol=1e-4)


@pytest.mark.gpu
@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("arch", ["small_cnn", "resnet18_small"])
def test_full_training_on_the_gpu_matches_the_cpu(tiny_images, arch):
    """Stacked (small_cnn) and one at a time (batch norm): same initialisation and batches on
    both devices, so the probabilities agree to float rounding amplified over 3 epochs."""
    edits = EDITS[:2]
    on_cpu = recipe(arch=arch, device="cpu").fit_predict(tiny_images, edits, seed=1)
    gpu = recipe(arch=arch, device="cuda")
    on_gpu = gpu.fit_predict(tiny_images, edits, seed=1)
    assert on_gpu.shape == on_cpu.shape and np.isfinite(on_gpu).all()
    np.testing.assert_allclose(on_gpu, on_cpu, atol=2e-3)
    np.testing.assert_allclose(on_gpu, gpu.fit_predict(tiny_images, edits, seed=1), atol=1e-6)


@pytest.mark.gpu
@pytest.mark.slow
@needs_cuda
def test_a_torchvision_backbone_extracts_the_same_features_on_the_gpu():
    from tda_core.data._dataset import Dataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3, 64, 64)).astype(np.float32)
    y = np.arange(12) % 3
    data = Dataset("noise", "images", X[:8], y[:8], X[8:], y[8:], ("a", "b", "c"), np.arange(8), np.arange(4))
    torch.manual_seed(0)
    state = ARCHITECTURES["resnet18"](3, (3, 64, 64)).state_dict()
    cpu = TorchRecipe("resnet18", mode="head", initial_state=state, device="cpu").fit_start(data, 0)
    gpu = TorchRecipe("resnet18", mode="head", initial_state=state, device="cuda").fit_start(data, 0)
    for key in cpu:
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=1e-4, atol=1e-5)
