"""Standard torchvision classifiers: built as torchvision builds them, so that a state dict saved
from ``torchvision.models.<name>(num_classes=C)`` loads exactly (strict names and shapes, a clear
message naming the layer otherwise), at the input each architecture declares. Nothing is
downloaded: every network is built locally with ``weights=None``."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from tda_core._actions import Edit
from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._exceptions import DataError, ModelError
from tda_core.data._images import IMAGENET_INPUT, IMAGENET_MEAN, IMAGENET_STD, SMALL_INPUT, load_images
from tda_core.recipes._files import load_model
from tda_core.recipes.torch._networks import ARCHITECTURES, TORCHVISION_CLASSIFIERS, image_input, network_input_shape
from tda_core.recipes.torch._recipe import TorchRecipe

N_CLASSES = 10
SIZE = 32  # a reduced --image-size: the networks are the standard ones, the pictures small


def colour_folder(root: Path, train_per_class: int = 3, test_per_class: int = 2) -> Path:
    """Ten classes of 40x40 RGB pictures, one hue each, with noise; in test/, the last picture of
    every third class has the next class's hue, so that a classifier makes errors there."""
    rng = np.random.default_rng(0)

    def picture(hue: float) -> Image.Image:
        rgb = np.array(colorsys.hsv_to_rgb(hue % 1.0, 0.8, 0.9)) * 255
        pixels = np.clip(rgb + rng.normal(0, 30, size=(40, 40, 3)), 0, 255).astype(np.uint8)
        return Image.fromarray(pixels, "RGB")

    for c in range(N_CLASSES):
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shifted = split == "test" and c % 3 == 0 and i == count - 1
                picture((c + shifted) / N_CLASSES).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """The colour pictures loaded as resnet18 expects them, at SIZE pixels."""
    root = colour_folder(tmp_path_factory.mktemp("colours") / "colours")
    return load_images(root, image_input=image_input("resnet18", SIZE))


def torchvision_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return getattr(torchvision.models, name)(weights=None, num_classes=N_CLASSES).state_dict()


# --- the registry and the inputs -----------------------------------------------------------


def test_each_architecture_declares_its_input():
    for name in TORCHVISION_CLASSIFIERS:
        arch = ARCHITECTURES[name]
        assert arch.torchvision and not arch.stackable and arch.input == IMAGENET_INPUT
    assert IMAGENET_INPUT.size == 224 and IMAGENET_INPUT.channels == 3
    assert (IMAGENET_INPUT.mean, IMAGENET_INPUT.std) == (IMAGENET_MEAN, IMAGENET_STD) == (
        (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
    )
    for name in ("small_cnn", "mlp", "resnet18_small"):
        assert ARCHITECTURES[name].input == SMALL_INPUT and not ARCHITECTURES[name].torchvision
    assert (SMALL_INPUT.size, SMALL_INPUT.channels, SMALL_INPUT.mean, SMALL_INPUT.std) == (28, None, (0.5,), (0.5,))
    # The user's size overrides the native one and keeps the rest; no name: the default recipe's.
    assert image_input("resnet50", 96) == IMAGENET_INPUT.with_size(96) and image_input("resnet50", 96).channels == 3
    assert image_input() == image_input("small_cnn") == SMALL_INPUT
    assert image_input("custom", 64).size == 64  # a model definition's name: the small networks' input
    with pytest.raises(DataError, match=r"the image size must be a whole number of pixels between 8 and 1024, not 4"):
        image_input("resnet18", 4)


def test_images_for_a_torchvision_classifier_are_rgb_with_imagenet_normalisation(colours, tmp_path):
    assert colours.X_train.shape == (30, 3, SIZE, SIZE) and colours.n_classes == N_CLASSES
    assert colours.description.endswith(f"RGB {SIZE}x{SIZE}, ImageNet mean/std")
    # Grayscale pictures are repeated into three channels for an RGB network.
    grey = tmp_path / "grey"
    for split in ("train", "test"):
        for c, level in (("a", 0), ("b", 255)):
            (grey / split / c).mkdir(parents=True)
            Image.new("L", (12, 12), level).save(grey / split / c / "0.png")
    data = load_images(grey, image_input=image_input("resnet18"))
    assert data.X_train.shape == (2, 3, 224, 224)
    black = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(data.X_train[0, :, 0, 0], black, atol=1e-6)
    assert load_images(grey).X_train.shape == (2, 1, 28, 28)  # the small networks' default is unchanged


def test_a_torchvision_classifier_refuses_grayscale_data(tiny_images):
    with pytest.raises(ModelError, match=r"resnet18 takes RGB images \(3 channels\), not images with 1 channel: "
                                         r"load the images for resnet18 \(RGB 224x224, ImageNet mean/std; the size may be changed\)"):
        TorchRecipe("resnet18").validate(tiny_images)


# --- standard state dicts load exactly ---------------------------------------------------


@pytest.mark.slow
def test_every_architecture_loads_its_own_state_dict_and_refuses_anothers(colours, tmp_path):
    names = list(ARCHITECTURES)
    shape = network_input_shape(colours)
    files = {}
    for name in names:
        torch.manual_seed(1)
        model = ARCHITECTURES[name](N_CLASSES, shape)
        files[name] = tmp_path / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(files[name]))
        recipe = load_model(files[name], colours, arch=name, network_params={"mode": "head"})
        loaded = recipe.build(colours.n_classes, shape, seed=7).state_dict()
        assert set(loaded) == set(model.state_dict())
        assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items()), name
        # Head mode's start (features into the last nn.Linear, dropout off) predicts as the network does.
        start = recipe.fit_start(colours, seed=0)
        model.eval()
        with torch.no_grad():
            own = torch.softmax(model(torch.from_numpy(colours.X_test)), -1).numpy()
        logits = start["F_test"] @ start["weight"] + start["bias"]
        np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True), own, atol=1e-5, err_msg=name)
    for name, other in zip(names, names[1:] + names[:1]):
        with pytest.raises(ModelError, match=rf"the weights do not fit {name} for 10 classes and input \(3, 32, 32\): "
                                             r"(the file has no layer \S+|layer \S+ has shape|the file has layer \S+, which)"
                                             rf".*; these weights fit {other}: choose that architecture$"):
            load_model(files[other], colours, arch=name)


def test_the_message_says_when_only_the_number_of_classes_differs(colours, tmp_path):
    torch.manual_seed(0)
    save_file(torchvision.models.resnet18(weights=None, num_classes=1000).state_dict(), str(tmp_path / "imagenet.safetensors"))
    with pytest.raises(ModelError, match=r"layer fc\.weight has shape \(1000, 512\) in the file, the architecture expects "
                                         r"\(10, 512\) \(the file's last layer has 1000 outputs; the data has 10 classes\)"):
        load_model(tmp_path / "imagenet.safetensors", colours, arch="resnet18")
    small = ARCHITECTURES["resnet18_small"](N_CLASSES, (3, SIZE, SIZE)).state_dict()
    save_file(small, str(tmp_path / "small.safetensors"))
    # The small-input ResNet (called resnet18 before torchvision's own): the message names it.
    with pytest.raises(ModelError, match=r"layer conv1\.weight has shape \(64, 3, 3, 3\) in the file, the architecture "
                                         r"expects \(64, 3, 7, 7\); these weights fit resnet18_small: choose that architecture$"):
        load_model(tmp_path / "small.safetensors", colours, arch="resnet18")
    junk = {"w": torch.zeros(2)}
    save_file(junk, str(tmp_path / "junk.safetensors"))
    with pytest.raises(ModelError, match=r"the file has no layer conv1\.weight \(expected shape \(64, 3, 7, 7\)\)$"):
        load_model(tmp_path / "junk.safetensors", colours, arch="resnet18")  # fits nothing: no hint


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_real_torchvision_resnet18_state_dict_loads_unchanged(colours, tmp_path, suffix):
    """torchvision.models.resnet18(num_classes=10), saved, loaded through load_model in head
    mode: the weights are the saved ones, and the starting network (its features and its last
    layer, as the engine computes and caches them) predicts exactly what the torchvision network
    itself predicts on the same preprocessed inputs. Then errors and a head-mode attribution."""
    torch.manual_seed(3)
    net = torchvision.models.resnet18(num_classes=N_CLASSES)
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(net.state_dict(), str(path))
    else:
        torch.save(net.state_dict(), path)
    recipe = load_model(path, colours, arch="resnet18",
                        network_params={"mode": "head", "head_epochs": 20, "batch_size": 8, "device": "cpu"})
    assert isinstance(recipe, TorchRecipe) and recipe.arch == "resnet18" and recipe.start_models() == 0
    built = recipe.build(colours.n_classes, network_input_shape(colours), seed=5).state_dict()
    assert all(torch.equal(built[k], v) for k, v in net.state_dict().items())

    analysis = Analysis(colours, recipe, RunConfig(ensemble=2, cache_dir=str(tmp_path / "cache")))
    starts = analysis.engine.starts(colours, recipe, [0, 1])
    net.eval()
    with torch.no_grad():
        own = torch.softmax(net(torch.from_numpy(colours.X_test)), -1).numpy()
    for start in starts.values():
        logits = start["F_test"] @ start["weight"] + start["bias"]
        proba = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(proba / proba.sum(-1, keepdims=True), own, atol=1e-5)
    np.testing.assert_array_equal(starts[0]["F_train"], starts[1]["F_train"])  # uploaded weights: no seed in the start

    # errors and attribute --mode head on the loaded network's features
    assert analysis.baseline.proba_test.shape == (2, colours.n_test, N_CLASSES)
    groups = analysis.errors.groups
    assert groups, "the shifted test pictures are errors"
    result = analysis.attribute(groups[0], "remove", "loss", size=3)
    assert sorted(result.ranking.index.tolist()) == list(range(colours.n_train))
    assert np.isfinite(result.ranking.delta_mean).all() and np.abs(result.ranking.delta_mean).max() > 0


def test_large_images_extract_the_same_features_in_channels_last_format():
    from tda_core.recipes.torch._networks import CHANNELS_LAST_PIXELS, penultimate

    torch.manual_seed(0)
    net = ARCHITECTURES["resnet18"](N_CLASSES, (3, 128, 128)).eval()
    X = np.random.default_rng(0).normal(size=(3, 3, 128, 128)).astype(np.float32)
    assert CHANNELS_LAST_PIXELS <= 128 * 128
    features = penultimate(net, X, rows=2)
    with torch.no_grad():
        expected = torch.flatten(net.avgpool(net.layer4(net.layer3(net.layer2(net.layer1(
            net.maxpool(net.relu(net.bn1(net.conv1(torch.from_numpy(X)))))))))), 1).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    assert net.conv1.weight.is_contiguous()  # the network is left in the default format


@pytest.mark.slow
def test_full_fine_tuning_of_a_torchvision_network_one_at_a_time(colours):
    """Batch norm: no stacking; every edit trains its own copy from the same seeded start."""
    data = colours
    full = TorchRecipe("resnet18", epochs=1, batch_size=10, device="cpu")
    assert not full._batchable and full.chunk_size == 4
    edits = [Edit.baseline(), Edit("remove", (0, 1, 2))]
    proba = full.fit_predict(data, edits, seed=0)
    assert proba.shape == (2, 1, data.n_test, N_CLASSES) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba[:1], full.fit_predict(data, edits[:1], seed=0))  # paired: the same baseline alone
    assert np.abs(proba[1] - proba[0]).max() > 1e-6
