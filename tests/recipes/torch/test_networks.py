"""The architectures, weights (hashing, checking, reading) and the helpers that run a network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tda_core._exceptions import ModelError
from tda_core.data import tabular_dataset
from tda_core.recipes.torch._networks import (
    ARCHITECTURES,
    VMAP_ARCHITECTURES,
    check_state,
    last_linear,
    load_code,
    network_input_shape,
    penultimate,
    predict_proba,
    read_state,
    state_hash,
)


def seeded(arch: str, n_classes: int, shape, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ARCHITECTURES[arch](n_classes, shape)


def test_architectures_and_their_output_shapes():
    assert list(ARCHITECTURES) == [
        "small_cnn", "mlp", "resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "efficientnet_b0", "resnet18_small",
    ]
    assert VMAP_ARCHITECTURES == ("small_cnn", "mlp")
    x = torch.zeros(5, 1, 28, 28)
    cnn = seeded("small_cnn", 10, (1, 28, 28))
    assert cnn(x).shape == (5, 10)
    assert [type(m).__name__ for m in cnn] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear", "ReLU", "Linear"]
    assert cnn[5].in_features == 16 * 7 * 7 and cnn[5].out_features == 64
    assert seeded("small_cnn", 3, (3, 9, 9))(torch.zeros(2, 3, 9, 9)).shape == (2, 3)  # odd sizes: 9 -> 5 -> 3
    assert seeded("mlp", 4, (1, 28, 28))(x).shape == (5, 4)
    assert seeded("mlp", 2, (7,))(torch.zeros(3, 7)).shape == (3, 2)
    with pytest.raises(ModelError, match=r"small_cnn needs images of shape \(channels, H, W\), not \(7,\); use mlp for tables"):
        ARCHITECTURES["small_cnn"](2, (7,))
    with pytest.raises(ModelError, match=r"resnet18_small needs images of shape \(channels, H, W\), not \(7,\)"):
        ARCHITECTURES["resnet18_small"](2, (7,))
    with pytest.raises(ModelError, match=r"resnet18 needs images of shape \(channels, H, W\), not \(7,\)"):
        ARCHITECTURES["resnet18"](2, (7,))
    with pytest.raises(ModelError, match=r"resnet50 takes RGB images \(3 channels\), not 1: load the images for resnet50 "
                                         r"\(RGB 224x224, ImageNet mean/std\)"):
        ARCHITECTURES["resnet50"](2, (1, 32, 32))


def test_resnet18_small_is_adapted_to_small_grayscale_inputs():
    net = seeded("resnet18_small", 4, (1, 28, 28))
    assert net.conv1.in_channels == 1 and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity) and net.fc.out_features == 4
    net.eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 4)
    assert penultimate(net, np.zeros((3, 1, 28, 28), dtype=np.float32)).shape == (3, 512)


def test_the_same_seed_builds_the_same_network():
    a, b, c = seeded("small_cnn", 3, (1, 8, 8), 1), seeded("small_cnn", 3, (1, 8, 8), 1), seeded("small_cnn", 3, (1, 8, 8), 2)
    assert state_hash(a.state_dict()) == state_hash(b.state_dict()) != state_hash(c.state_dict())


def test_state_hash_covers_names_shapes_dtypes_and_values():
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    h = state_hash(state)
    assert h == state_hash({"b": torch.zeros(2), "w": torch.arange(6.0).reshape(2, 3)})  # order does not matter
    assert len(h) == 64
    changed = [
        {"w": torch.arange(6.0).reshape(3, 2), "b": torch.zeros(2)},  # shape
        {"w": torch.arange(6.0).reshape(2, 3).double(), "b": torch.zeros(2)},  # dtype
        {"w2": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)},  # name
        {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([0.0, 1e-30])},  # one value
    ]
    assert len({h, *(state_hash(s) for s in changed)}) == 5
    assert state_hash({"w": torch.zeros(0), "b": torch.zeros(2)}) != state_hash({"b": torch.zeros(2)})


def test_last_linear_penultimate_and_predict_proba():
    net = seeded("small_cnn", 3, (1, 8, 8))
    name, head = last_linear(net)
    assert name == "7" and head is net[7]
    X = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    features = penultimate(net, X, rows=2)  # several passes of 2 rows
    with torch.no_grad():
        expected = net[:7](torch.from_numpy(X)).numpy()
        logits = net(torch.from_numpy(X))
    assert features.shape == (5, 64) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, atol=1e-6)
    proba = predict_proba(net, torch.from_numpy(X), rows=2)
    np.testing.assert_allclose(proba, torch.softmax(logits, -1).numpy(), atol=1e-7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert penultimate(net, X[:0]).shape == (0, 64)
    with pytest.raises(ModelError, match=r"head mode needs a network whose last layer is an nn\.Linear; this one has none"):
        last_linear(nn.Sequential(nn.Flatten(), nn.ReLU()))


def test_check_state_names_the_first_layer_that_does_not_fit():
    net = seeded("mlp", 3, (4,))
    good = net.state_dict()
    check_state(net, good, "mlp")  # fits: no error
    with pytest.raises(ModelError, match=r"the weights do not fit mlp: the file has no layer 3\.bias \(expected shape \(3,\)\)"):
        check_state(net, {k: v for k, v in good.items() if k != "3.bias"}, "mlp")
    with pytest.raises(ModelError, match=r"layer 1\.weight has shape \(128, 5\) in the file, the architecture expects \(128, 4\)"):
        check_state(net, good | {"1.weight": torch.zeros(128, 5)}, "mlp")
    with pytest.raises(ModelError, match=r"the file has layer 9\.weight, which the architecture lacks"):
        check_state(net, good | {"9.weight": torch.zeros(1)}, "mlp")


def test_read_state_unwraps_and_converts(tmp_path):
    from safetensors.torch import save_file

    state = {"w": torch.ones(2, 2, dtype=torch.float64), "steps": torch.tensor([3])}
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 4}, tmp_path / "ckpt.pt")
    got = read_state(tmp_path / "ckpt.pt")
    assert set(got) == {"w", "steps"}
    assert got["w"].dtype == torch.float32 and got["steps"].dtype == torch.int64  # floats to float32, integers kept
    save_file({"w": torch.ones(2)}, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_state(tmp_path / "w.safetensors")["w"], torch.ones(2))
    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(ModelError, match=r"empty\.pt: expected a state dict"):
        read_state(tmp_path / "empty.pt")
    torch.save({"w": torch.ones(2), "note": "text"}, tmp_path / "mixed.pt")
    with pytest.raises(ModelError, match=r"mixed\.pt: expected a state dict"):
        read_state(tmp_path / "mixed.pt")


def test_load_code_reports_import_failures(tmp_path):
    (tmp_path / "crash.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ModelError, match=r"crash\.py: importing the model definition failed \(boom\)$"):
        load_code(tmp_path / "crash.py")
    (tmp_path / "good.py").write_text("def build_model(n_classes, input_shape):\n    return n_classes\n")
    assert load_code(tmp_path / "good.py")(3, (1,)) == 3


def test_network_input_shape(tiny_images):
    assert network_input_shape(tiny_images) == (1, 8, 8)
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"], "t": ["p", "q", "p"]})
    assert network_input_shape(tabular_dataset(frame, frame, "t")) == (4,)  # a scaled, b one-hot in three columns
