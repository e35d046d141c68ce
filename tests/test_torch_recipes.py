"""PyTorch recipes: determinism, exact removal, batched == one at a time, uploaded weights."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tda_core.actions import Edit
from tda_core.data import Dataset, tabular_dataset
from tda_core.exceptions import ModelError, UntrustedFileError
from tda_core.images import load_image_demo
from tda_core.torch_recipes import (
    ARCHITECTURES,
    TorchRecipe,
    default_image_recipe,
    network_input_shape,
    penultimate,
    recipe_from_weights,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these networks are too small to gain from two, and on a shared
    2-core machine two threads spin-wait badly when another process is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small() -> Dataset:
    """The digits demo at reduced size: 60 training and 60 test images."""
    return load_image_demo(train_per_class=6, test_per_class=6)


def hand_trained(data: Dataset, arch: str, seed: int, y: np.ndarray, w: np.ndarray, epochs: int, batch_size: int) -> np.ndarray:
    """An independent minimal training loop with the recipe's documented contract: seeded init,
    a seeded permutation per epoch cut into ceil(n / batch_size) parts, AdamW(1e-3, wd 0.005),
    loss sum(w_i * ce_i) / batch size. Returns the final test probabilities."""
    torch.manual_seed(seed)
    model = ARCHITECTURES[arch](data.n_classes, data.X_train.shape[1:])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.005)
    gen = torch.Generator().manual_seed(seed)
    X, yt, wt = torch.from_numpy(data.X_train), torch.from_numpy(y), torch.from_numpy(w.astype(np.float32))
    n = len(y)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for idx in torch.tensor_split(perm, -(-n // batch_size)):
            loss = (wt[idx] * F.cross_entropy(model(X[idx]), yt[idx], reduction="none")).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(data.X_test)), -1).numpy()


def test_same_seed_gives_identical_probabilities(small: Dataset) -> None:
    recipe = TorchRecipe(epochs=3, cache=False)
    edits = [Edit.none(), Edit("remove", (3,))]
    first = recipe.fit_predict(small, edits, seed=0)
    second = recipe.fit_predict(small, edits, seed=0)
    assert first.shape == (2, 3, small.n_test, 10) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, recipe.fit_predict(small, edits, seed=1))
    np.testing.assert_allclose(first.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("batched", [True, False])
def test_removal_and_relabel_match_an_independent_training_loop(small: Dataset, batched: bool) -> None:
    recipe = TorchRecipe(epochs=3, batch_size=16, checkpoints=[3], batched=batched, cache=False)
    edits = [Edit.none(), Edit("remove", (5,)), Edit("relabel", (7, 20), (1, 2)), Edit("upweight", (9,))]
    proba = recipe.fit_predict(small, edits, seed=4)[:, 0]
    ones = np.ones(small.n_train)
    removed, upweighted = ones.copy(), ones.copy()
    removed[5] = 0.0
    upweighted[9] = 10.0
    relabeled = small.y_train.copy()
    relabeled[[7, 20]] = [1, 2]
    args = ("small_cnn", 4)
    base = hand_trained(small, *args, small.y_train, ones, 3, 16)
    expected = [
        base,
        hand_trained(small, *args, small.y_train, removed, 3, 16),
        hand_trained(small, *args, relabeled, ones, 3, 16),
        hand_trained(small, *args, small.y_train, upweighted, 3, 16),
    ]
    for got, want in zip(proba, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The removal delta (counterfactual minus baseline) is real, and it is the hand-made one.
    delta = proba[1] - proba[0]
    assert np.abs(delta).max() > 1e-4
    np.testing.assert_allclose(delta, expected[1] - base, atol=1e-5)


@pytest.mark.parametrize("arch", ["small_cnn", "mlp"])
def test_full_mode_batched_equals_one_at_a_time(small: Dataset, arch: str) -> None:
    edits = [Edit.none()] + [Edit("remove", (i,)) for i in range(0, 50, 10)] + [Edit("relabel", (1,), (4,))]
    stacked = TorchRecipe(arch, epochs=4, cache=False).fit_predict(small, edits, seed=2)
    looped = TorchRecipe(arch, epochs=4, batched=False, cache=False).fit_predict(small, edits, seed=2)
    assert stacked.shape == (len(edits), 3, small.n_test, 10)
    np.testing.assert_allclose(stacked, looped, atol=1e-5)


def test_head_mode_batched_equals_one_at_a_time_and_caches_features(small: Dataset, tmp_path: Path) -> None:
    recipe = TorchRecipe(epochs=2, mode="head", head_epochs=20, cache_dir=tmp_path)
    edits = [Edit.none(), Edit("remove", (0,)), Edit("remove", (1, 2, 3)), Edit("upweight", (4,)), Edit("relabel", (5,), (3,))]
    batched = recipe.fit_predict(small, edits, seed=0)
    assert batched.shape == (5, 1, small.n_test, 10)
    assert recipe.checkpoints == (20,)  # head mode: members come from seeds
    assert recipe.with_options(checkpoints=[10, 20]).fit_predict(small, edits[:1], seed=0).shape == (1, 2, small.n_test, 10)
    assert any(tmp_path.rglob("*.pkl")), "the frozen features are cached on disk"
    single = np.concatenate([recipe.fit_predict(small, [e], seed=0) for e in edits])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.abs(batched[1] - batched[0]).max() > 1e-6
    # Features depend on the seed (the baseline network is trained per seed) and are reused.
    f0, f1 = recipe.features(small, 0), recipe.features(small, 1)
    assert f0[0].shape == (small.n_train, 64) and not np.array_equal(f0[0], f1[0])
    np.testing.assert_array_equal(recipe.features(small, 0)[0], f0[0])
    # train+test evaluation: training rows first.
    both = recipe.fit_predict(small, edits[:2], seed=0, eval_on="train+test")
    assert both.shape == (2, 1, small.n_train + small.n_test, 10)
    np.testing.assert_allclose(both[:, :, small.n_train :], batched[:2], atol=1e-6)


def test_params_key_everything_that_changes_the_result(tmp_path: Path) -> None:
    base = TorchRecipe()
    changed = [
        TorchRecipe(lr=3e-3), TorchRecipe(weight_decay=0.0), TorchRecipe(epochs=5), TorchRecipe(batch_size=8),
        TorchRecipe(arch="mlp"), TorchRecipe(mode="head"), TorchRecipe(checkpoints=[10]),
    ]
    prints = {base.fingerprint()} | {r.fingerprint() for r in changed}
    assert len(prints) == len(changed) + 1
    assert base.with_options(epochs=4).params()["epochs"] == 4
    assert base.with_options(mode="head").name == "small_cnn-head"
    assert TorchRecipe(checkpoints=[8, 10]).members(3) and TorchRecipe().checkpoints == (8, 9, 10)


def test_uploaded_weights_are_every_members_starting_point(small: Dataset, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(123)
    model = ARCHITECTURES["small_cnn"](10, (1, 28, 28))
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "w.pt")
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(small.X_test)), -1).numpy()
    for name in ("w.safetensors", "w.pt"):
        frozen = recipe_from_weights(tmp_path / name, "small_cnn", 10, (1, 28, 28), epochs=2, lr=0.0)
        assert frozen.params()["weights"] == recipe_from_weights(tmp_path / "w.pt", "small_cnn", 10, (1, 28, 28)).params()["weights"]
        proba = frozen.fit_predict(small, [Edit.none()], seed=7)
        np.testing.assert_allclose(proba[0, 0], expected, atol=1e-6)  # lr 0: the uploaded network itself
    tuned = recipe_from_weights(tmp_path / "w.safetensors", "small_cnn", 10, (1, 28, 28), epochs=2)
    assert tuned.fingerprint() != TorchRecipe(epochs=2).fingerprint()
    # Head mode on uploaded weights: the features are the uploaded body's, the same for every seed.
    head = tuned.with_options(mode="head")
    np.testing.assert_array_equal(head.features(small, 0)[0], penultimate(model, small.X_train))
    np.testing.assert_array_equal(head.features(small, 0)[0], head.features(small, 5)[0])


def test_weights_that_do_not_fit_name_the_layer(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(ARCHITECTURES["small_cnn"](10, (1, 28, 28)).state_dict(), str(tmp_path / "w.safetensors"))
    with pytest.raises(ModelError, match=r"layer 7\.weight has shape \(10, 64\) in the file, the architecture expects \(3, 64\)"):
        recipe_from_weights(tmp_path / "w.safetensors", "small_cnn", 3, (1, 28, 28))
    with pytest.raises(ModelError, match=r"the file has no layer 1\.weight"):
        recipe_from_weights(tmp_path / "w.safetensors", "mlp", 10, (1, 28, 28))
    torch.save(ARCHITECTURES["mlp"](10, (4,)), tmp_path / "pickled.pt")  # a whole pickled module
    with pytest.raises(ModelError, match=r"weights_only=True"):
        recipe_from_weights(tmp_path / "pickled.pt", "mlp", 10, (4,))
    with pytest.raises(ModelError, match=r"unknown architecture 'vgg'"):
        recipe_from_weights(tmp_path / "w.safetensors", "vgg", 10, (1, 28, 28))


def test_model_code_needs_trust(small: Dataset, tmp_path: Path) -> None:
    code = tmp_path / "net.py"
    code.write_text(
        "from torch import nn\n"
        "def build_model(n_classes, input_shape):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[1] * input_shape[2], 16), nn.ReLU(), nn.Linear(16, n_classes))\n"
    )
    with pytest.raises(UntrustedFileError, match=r"trust-code"):
        recipe_from_weights(code, "custom", 10, (1, 28, 28))
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(UntrustedFileError, match=r"\.pkl files execute code"):
        recipe_from_weights(tmp_path / "model.pkl", "custom", 10, (1, 28, 28), trust_code=True)
    recipe = recipe_from_weights(code, "custom", 10, (1, 28, 28), trust_code=True, epochs=2)
    assert recipe.params()["code"] is not None
    proba = recipe.fit_predict(small, [Edit.none(), Edit("remove", (0,))], seed=0)
    assert proba.shape == (2, 2, small.n_test, 10)
    import pickle

    again = pickle.loads(pickle.dumps(recipe))  # engine workers get a copy that re-imports the file
    np.testing.assert_array_equal(again.fit_predict(small, [Edit.none()], seed=0), proba[:1])


def test_resnet18_is_adapted_to_small_grayscale_inputs() -> None:
    net = ARCHITECTURES["resnet18"](4, (1, 28, 28))
    assert net.conv1.in_channels == 1 and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity) and net.fc.out_features == 4
    net.eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 4)
    assert penultimate(net, np.zeros((3, 1, 28, 28), dtype=np.float32)).shape == (3, 512)
    assert TorchRecipe("resnet18").chunk_size < TorchRecipe("small_cnn").chunk_size < TorchRecipe(mode="head").chunk_size


def test_mlp_trains_on_tabular_features() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["x", "y"], size=80)})
    frame["t"] = np.where(frame["a"] > 0, "hi", "lo")
    data = tabular_dataset(frame[:60], frame[60:], "t")
    proba = TorchRecipe("mlp", epochs=20, batch_size=16, cache=False).fit_predict(data, [Edit.none()], seed=0)
    assert proba.shape == (1, 3, 20, 2)
    assert network_input_shape(data) == (3,)  # "a" scaled, "b" one-hot in two columns
    assert (proba[0, -1].argmax(-1) == data.y_test).mean() >= 0.8
    with pytest.raises(ModelError, match=r"small_cnn needs images"):
        TorchRecipe("small_cnn", cache=False).fit_predict(data, [Edit.none()], seed=0)


def test_reduced_demo_baseline_and_counterfactuals_are_fast(small: Dataset, tmp_path: Path) -> None:
    recipe = default_image_recipe(small, epochs=2)
    edits = [Edit.none()] + [Edit("remove", (i,)) for i in range(5)]
    start = time.perf_counter()
    try:
        from tda_core.engine import Engine, RunConfig
    except ImportError:  # the engine is optional for this test
        proba = np.concatenate([recipe.fit_predict(small, edits, seed=s)[:, -1:] for s in (0, 1, 2)], axis=1)
    else:
        proba = Engine(RunConfig(ensemble=3, cache_dir=str(tmp_path))).predict(small, recipe, edits, eval_on="test")
    assert proba.shape == (6, 3, small.n_test, 10)
    assert time.perf_counter() - start < 30


def test_default_recipe_leaves_errors_on_the_demo() -> None:
    data = load_image_demo()
    recipe = default_image_recipe(data)
    assert (recipe.arch, recipe.lr, recipe.weight_decay, recipe.mode) == ("small_cnn", 1e-3, 0.005, "full")
    proba = recipe.fit_predict(data, [Edit.none()], seed=0)
    accuracy = (proba[0].argmax(-1) == data.y_test).mean(-1)
    assert np.all((0.5 <= accuracy) & (accuracy <= 0.88)), accuracy
    with pytest.raises(ModelError, match=r"needs image data"):
        default_image_recipe(tabular_dataset(pd.DataFrame({"a": [1, 2], "t": ["x", "y"]}), pd.DataFrame({"a": [1], "t": ["x"]}), "t"))


def test_training_uses_the_recipes_thread_count_and_restores_torchs(small: Dataset) -> None:
    seen: list[int] = []
    recipe = TorchRecipe(epochs=1, mode="head", head_epochs=1, cache=False, threads=1)
    original = recipe.build

    def build(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    recipe.build = build  # type: ignore[method-assign]
    torch.set_num_threads(2)
    try:
        recipe.fit_predict(small, [Edit.none()], seed=0)
        assert seen == [1] and torch.get_num_threads() == 2
        assert TorchRecipe(threads=None).params()["threads"] is None
        with pytest.raises(ModelError, match="threads"):
            TorchRecipe(threads=0)
    finally:
        torch.set_num_threads(1)
