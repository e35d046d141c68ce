"""TorchRecipe: members from seeds (checkpoints only when asked), edits as weights and labels,
head mode on a start network, uploaded weights, and checks when the recipe is used."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tda_core._actions import ACTIONS, Edit
from tda_core._exceptions import ModelError
from tda_core._metrics import METRICS
from tda_core.data import tabular_dataset
from tda_core.recipes._base import Member
from tda_core.recipes.torch._networks import ARCHITECTURES, penultimate
from tda_core.recipes.torch._recipe import DEFAULT_IMAGE_EPOCHS, TorchRecipe, default_image_recipe
from tda_core.recipes.torch._training import Optimisation, fit_network


def recipe(**kwargs) -> TorchRecipe:
    return TorchRecipe(**({"epochs": 3, "batch_size": 8} | kwargs))


EDITS = [Edit.baseline(), Edit("remove", (5,)), Edit("relabel", (7, 20), (1, 2)), Edit("upweight", (9,))]


def hand_trained(data, arch: str, seed: int, y: np.ndarray, w: np.ndarray, epochs: int, batch_size: int) -> np.ndarray:
    """An independent minimal loop with the recipe's documented contract: seeded init, a seeded
    permutation per epoch cut into ceil(n / batch_size) parts, AdamW(1e-3, wd 0.005),
    loss sum(w_i * ce_i) / batch size. The final test probabilities."""
    torch.manual_seed(seed)
    model = ARCHITECTURES[arch](data.n_classes, data.X_train.shape[1:])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.005)
    gen = torch.Generator().manual_seed(seed)
    X, yt, wt = torch.from_numpy(data.X_train), torch.from_numpy(y), torch.from_numpy(w.astype(np.float32))
    n = len(y)
    for _ in range(epochs):
        for idx in torch.tensor_split(torch.randperm(n, generator=gen), -(-n // batch_size)):
            loss = (wt[idx] * F.cross_entropy(model(X[idx]), yt[idx], reduction="none")).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(data.X_test)), -1).numpy()


# --- without training ----------------------------------------------------------------------


def test_members_are_independent_seeds_unless_checkpoints_are_asked_for():
    plain = TorchRecipe()
    assert plain.checkpoints is None and plain.checkpoint_epochs == () and plain.members_per_run == 1
    assert plain.members(3, seed=5) == [Member(5), Member(6), Member(7)]
    assert plain.recorded_epochs == (DEFAULT_IMAGE_EPOCHS,) == (10,)
    study = TorchRecipe(checkpoints=(10, 8, 9, 9))
    assert study.checkpoint_epochs == (8, 9, 10) and study.members_per_run == 3
    assert study.members(4) == [Member(0, 0), Member(0, 1), Member(0, 2), Member(1, 0)]
    assert TorchRecipe(mode="head", head_epochs=20).recorded_epochs == (20,)
    assert plain.display_name == "small_cnn-full" and study.display_name == "small_cnn-full, checkpoints of one run"
    assert TorchRecipe("mlp", mode="head", name="mine").display_name == "mine"


def test_parameters_are_checked_when_the_recipe_is_used(tiny_images):
    cases = [
        (TorchRecipe(mode="middle"), "unknown mode 'middle': choose full or head"),
        (TorchRecipe("vgg"), "unknown architecture 'vgg': choose one of small_cnn, mlp, resnet18"),
        (TorchRecipe(epochs=0), "epochs must be at least 1, not 0"),
        (TorchRecipe(batch_size=0), "batch size must be at least 1, not 0"),
        (TorchRecipe(head_epochs=0), "head epochs must be at least 1, not 0"),
        (TorchRecipe(threads=0), "threads must be at least 1, not 0"),
        (TorchRecipe(checkpoints=(9, 11)), r"checkpoints must be epochs between 1 and 10, not \[9, 11\]"),
        (TorchRecipe(checkpoints=()), r"checkpoints must be epochs between 1 and 10, not \[\]"),
        (TorchRecipe(mode="head", head_epochs=5, checkpoints=(8,)), r"between 1 and 5, not \[8\]"),
    ]
    for bad, message in cases:  # constructing never fails: sklearn-shaped
        with pytest.raises(ModelError, match=message):
            bad.validate(tiny_images)
        with pytest.raises(ModelError, match=message):
            bad.fit_predict(tiny_images, [Edit.baseline()], seed=0)
    TorchRecipe(threads=None, checkpoints=(1, 10)).validate(tiny_images)


def test_the_fingerprint_keys_everything_that_changes_the_result():
    base = TorchRecipe()
    changed = [
        TorchRecipe(lr=3e-3), TorchRecipe(weight_decay=0.0), TorchRecipe(epochs=5), TorchRecipe(batch_size=8),
        TorchRecipe("mlp"), TorchRecipe(mode="head"), TorchRecipe(checkpoints=(10,)), TorchRecipe(threads=2),
        TorchRecipe(mode="head", head_epochs=20),
        TorchRecipe(initial_state=ARCHITECTURES["small_cnn"](10, (1, 28, 28)).state_dict()),
    ]
    prints = {base.fingerprint()} | {r.fingerprint() for r in changed}
    assert len(prints) == len(changed) + 1
    # What trains nothing different does not: the name, head epochs in full mode, checkpoint order.
    assert TorchRecipe(name="x").fingerprint() == base.fingerprint()
    assert TorchRecipe(head_epochs=7).fingerprint() == base.fingerprint()
    assert TorchRecipe(checkpoints=[9, 8]).fingerprint() == TorchRecipe(checkpoints=(8, 9)).fingerprint()


def test_what_the_engine_asks():
    full, head = TorchRecipe(), TorchRecipe(mode="head")
    assert (full.trains_from_start(), full.start_seed(3), full.start_models(), full.estimate_models()) == (False, 3, 1, 0)
    assert (head.trains_from_start(), head.start_seed(3), head.start_models(), head.estimate_models()) == (True, 3, 1, 1)
    uploaded = TorchRecipe(mode="head", initial_state=ARCHITECTURES["small_cnn"](10, (1, 28, 28)).state_dict())
    assert uploaded.start_models() == 0
    assert TorchRecipe("resnet18").chunk_size == TorchRecipe("resnet18_small").chunk_size == 4 < full.chunk_size == 32 < head.chunk_size == 1024
    assert TorchRecipe(batched=False).chunk_size == 4
    assert full.removal == "zero_weight" and full.describe()["weights"] is None and uploaded.describe()["weights"] == "uploaded"


def test_a_ranking_is_cut_into_near_equal_stacks():
    """Full mode stacks at most 32 networks a unit, the edits of a ranking in near-equal units."""
    from planted import tiny_images

    full, single = TorchRecipe(), TorchRecipe(batched=False)
    sizes = {n: full.chunk_for(tiny_images(n_train=n, n_test=3)) for n in (30, 64, 65, 300, 1000)}
    assert sizes == {30: 32, 64: 32, 65: 22, 300: 30, 1000: 32}
    assert single.chunk_for(tiny_images(n_train=300, n_test=3)) == 4
    for n, size in sizes.items():
        units = -(-n // size)
        assert units == -(-n // full.chunk_size)  # no more units than stacks of 32 would give
        if n > size:
            assert n - (units - 1) * size > size - units  # the last unit is as large as the others, to one each


def test_head_mode_and_representations_need_the_start(tiny_images):
    with pytest.raises(ModelError, match="head mode needs the start network's features"):
        recipe(mode="head").fit_predict(tiny_images, [Edit.baseline()], seed=0)
    with pytest.raises(ModelError, match="the representation of a network needs its start"):
        recipe().representation(tiny_images, 0)
    with pytest.raises(ModelError, match="estimates for a network need its start"):
        recipe().estimate_effects(tiny_images, 0, ACTIONS["remove"], tiny_images.y_train, np.arange(2), np.zeros(2, int), METRICS["loss"])


def test_the_default_image_recipe():
    r = default_image_recipe()
    assert (r.arch, r.epochs, r.batch_size, r.lr, r.weight_decay, r.mode, r.checkpoints) == ("small_cnn", 10, 32, 1e-3, 0.005, "full", None)
    assert default_image_recipe(epochs=4, mode="head").get_params()["epochs"] == 4


# --- training ------------------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_identical_probabilities(tiny_images):
    edits = [Edit.baseline(), Edit("remove", (3,))]
    first = recipe().fit_predict(tiny_images, edits, seed=0)
    assert first.shape == (2, 1, tiny_images.n_test, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, recipe().fit_predict(tiny_images, edits, seed=0))
    assert np.abs(first - recipe().fit_predict(tiny_images, edits, seed=1)).max() > 1e-3
    np.testing.assert_allclose(first.sum(-1), 1.0, atol=1e-5)
    both = recipe().fit_predict(tiny_images, edits, seed=0, eval_on="train+test")
    assert both.shape == (2, 1, tiny_images.n_train + tiny_images.n_test, 3)
    np.testing.assert_allclose(both[:, :, tiny_images.n_train :], first, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("batched", [True, False])
def test_edits_match_an_independent_training_loop(tiny_images, batched):
    data = tiny_images
    proba = recipe(checkpoints=(3,), batched=batched).fit_predict(data, EDITS, seed=4)[:, 0]
    ones = np.ones(data.n_train)
    removed, upweighted = ones.copy(), ones.copy()
    removed[5] = 0.0
    upweighted[9] = 10.0
    relabeled = data.y_train.copy()
    relabeled[[7, 20]] = [1, 2]
    expected = [
        hand_trained(data, "small_cnn", 4, data.y_train, ones, 3, 8),
        hand_trained(data, "small_cnn", 4, data.y_train, removed, 3, 8),
        hand_trained(data, "small_cnn", 4, relabeled, ones, 3, 8),
        hand_trained(data, "small_cnn", 4, data.y_train, upweighted, 3, 8),
    ]
    for got, want in zip(proba, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The deltas (counterfactual minus baseline) are real, and they are the hand-made ones.
    assert np.abs(proba[1:] - proba[:1]).max() > 1e-3
    np.testing.assert_allclose(proba[1:] - proba[:1], np.stack(expected[1:]) - expected[0], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["small_cnn", "mlp"])
def test_full_mode_batched_equals_one_at_a_time(tiny_images, arch):
    edits = [Edit.baseline()] + [Edit("remove", (i,)) for i in range(0, 25, 6)] + [Edit("relabel", (1,), (2,))]
    stacked = recipe(arch=arch, checkpoints=(2, 3)).fit_predict(tiny_images, edits, seed=2)
    looped = recipe(arch=arch, checkpoints=(2, 3), batched=False).fit_predict(tiny_images, edits, seed=2)
    assert stacked.shape == (len(edits), 2, tiny_images.n_test, 3)
    np.testing.assert_allclose(stacked, looped, atol=1e-5)


@pytest.mark.slow
def test_batch_norm_networks_stack_when_asked(tiny_images):
    """resnet18_small (batch norm) stacked with vmap, each network with its own running
    statistics, gives what one at a time gives: two full-batch steps, so that float rounding
    is not yet amplified (over many small batches AdamW and batch norm amplify it as a change
    of thread count does)."""
    edits = [Edit.baseline(), Edit("remove", (3,)), Edit("relabel", (1,), (2,))]
    params = {"arch": "resnet18_small", "epochs": 2, "batch_size": 64, "checkpoints": (1, 2)}
    stacked = recipe(**params, stack=3)
    assert stacked._batchable and stacked.chunk_size == 3 and not recipe(**params)._batchable
    together = stacked.fit_predict(tiny_images, edits, seed=1)
    alone = recipe(**params).fit_predict(tiny_images, edits, seed=1)
    assert together.shape == alone.shape == (3, 2, tiny_images.n_test, 3)
    np.testing.assert_allclose(together, alone, atol=2e-4)
    assert np.abs(alone[1:, -1] - alone[:1, -1]).max() > 1e-2  # the edits move the predictions far more


def test_the_stack_is_checked_and_dropout_never_stacks(tiny_images):
    with pytest.raises(ModelError, match="stack must be at least 1 network, not 0"):
        recipe(stack=0).validate(tiny_images)
    assert TorchRecipe("mobilenet_v3_small", stack=8).chunk_size == 4 and not TorchRecipe("efficientnet_b0", stack=8)._batchable
    assert TorchRecipe("resnet18", stack=16).chunk_size == 16 and TorchRecipe("resnet18", stack=16, batched=False).chunk_size == 4
    assert TorchRecipe(stack=1).chunk_size == 4 and TorchRecipe(stack=8).chunk_size == 8
    assert TorchRecipe("resnet18", stack=16).fingerprint() != TorchRecipe("resnet18").fingerprint()


@pytest.mark.slow
def test_the_start_is_the_seeds_baseline_network(tiny_images):
    data = tiny_images
    r = recipe()
    start = r.fit_start(data, seed=1)
    assert {k: v.shape for k, v in start.items()} == {"F_train": (30, 64), "F_test": (15, 64), "weight": (64, 3), "bias": (3,)}
    model = r.build(data.n_classes, data.X_train.shape[1:], seed=1)
    X = torch.from_numpy(data.X_train)
    trained, _ = fit_network(model, X, torch.from_numpy(data.y_train), torch.ones(data.n_train), X[:0], 1,
                             Optimisation(3, 8, 1e-3, 0.005), ())
    np.testing.assert_allclose(start["F_train"], penultimate(trained, data.X_train), atol=1e-6)
    np.testing.assert_allclose(start["weight"], trained[7].weight.detach().numpy().T, atol=1e-7)
    np.testing.assert_allclose(start["bias"], trained[7].bias.detach().numpy(), atol=1e-7)
    # The start's head on its own features gives the full-mode baseline's predictions.
    logits = start["F_test"] @ start["weight"] + start["bias"]
    proba = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(proba, r.fit_predict(data, [Edit.baseline()], seed=1)[0, 0], atol=1e-5)
    assert np.abs(r.fit_start(data, seed=2)["F_train"] - start["F_train"]).max() > 1e-3


@pytest.mark.slow
def test_head_mode_batched_equals_one_at_a_time(tiny_images):
    data = tiny_images
    head = recipe(mode="head", head_epochs=20)
    start = head.fit_start(data, seed=0)
    edits = [*EDITS, Edit("remove", (1, 2, 3))]
    batched = head.fit_predict(data, edits, seed=0, start=start)
    assert batched.shape == (5, 1, data.n_test, 3)
    single = np.concatenate([head.fit_predict(data, [e], seed=0, start=start) for e in edits])
    np.testing.assert_allclose(batched, single, atol=1e-6)
    assert np.abs(batched[1:] - batched[:1]).max() > 1e-4
    study = recipe(mode="head", head_epochs=20, checkpoints=(10, 20)).fit_predict(data, edits[:1], seed=0, start=start)
    assert study.shape == (1, 2, data.n_test, 3)
    np.testing.assert_allclose(study[:, 1], batched[:1, 0], atol=1e-6)
    both = head.fit_predict(data, edits[:2], seed=0, eval_on="train+test", start=start)
    assert both.shape == (2, 1, data.n_train + data.n_test, 3)
    np.testing.assert_allclose(both[:, :, data.n_train :], batched[:2], atol=1e-6)


@pytest.mark.slow
def test_uploaded_weights_give_the_same_start_for_every_seed(tiny_images):
    data = tiny_images
    torch.manual_seed(123)
    uploaded = ARCHITECTURES["small_cnn"](3, data.X_train.shape[1:])
    head = recipe(mode="head", head_epochs=5, initial_state=copy.deepcopy(uploaded.state_dict()))
    s0, s5 = head.fit_start(data, seed=0), head.fit_start(data, seed=5)
    np.testing.assert_array_equal(s0["F_train"], penultimate(uploaded, data.X_train))
    np.testing.assert_array_equal(s0["F_train"], s5["F_train"])
    np.testing.assert_array_equal(s0["weight"], uploaded[7].weight.detach().numpy().T)
    # Full mode starts every member from the uploaded network: lr 0 keeps it.
    frozen = recipe(epochs=1, lr=0.0, weight_decay=0.0, initial_state=uploaded.state_dict())
    with torch.no_grad():
        expected = torch.softmax(uploaded(torch.from_numpy(data.X_test)), -1).numpy()
    np.testing.assert_allclose(frozen.fit_predict(data, [Edit.baseline()], seed=9)[0, 0], expected, atol=1e-6)


@pytest.mark.slow
def test_estimates_come_from_the_start_or_the_baseline_head(tiny_images):
    data = tiny_images
    tests = np.arange(6)
    y_pred = np.zeros(6, dtype=np.int64)
    full = recipe()
    start = full.fit_start(data, seed=0)
    args = (data, 0, ACTIONS["remove"], 1 - data.y_train % 2, tests, y_pred, METRICS["loss"], start)
    est = full.estimate_effects(*args)
    assert est.shape == (data.n_train,) and np.isfinite(est).all() and np.abs(est).max() > 0
    # Head mode retrains the head on the unedited data; its last layer differs from the start's.
    head_est = recipe(mode="head", head_epochs=30).estimate_effects(*args)
    assert np.abs(head_est - est).max() > 1e-6


@pytest.mark.slow
def test_training_uses_the_recipes_thread_count_and_restores_torchs(tiny_images):
    seen: list[int] = []
    r = recipe(epochs=1, threads=1)
    original = r.build

    def build(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    r.build = build  # type: ignore[method-assign]
    torch.set_num_threads(2)
    try:
        r.fit_predict(tiny_images, [Edit.baseline()], seed=0)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


@pytest.mark.slow
def test_mlp_trains_on_tabular_features():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["x", "y"], size=80)})
    frame["t"] = np.where(frame["a"] > 0, "hi", "lo")
    data = tabular_dataset(frame[:60], frame[60:], "t")
    proba = TorchRecipe("mlp", epochs=20, batch_size=16).fit_predict(data, [Edit.baseline()], seed=0)
    assert proba.shape == (1, 1, 20, 2)
    assert (proba[0, 0].argmax(-1) == data.y_test).mean() >= 0.8
    with pytest.raises(ModelError, match=r"small_cnn needs images"):
        TorchRecipe("small_cnn").fit_predict(data, [Edit.baseline()], seed=0)


@pytest.mark.slow
def test_the_default_recipe_leaves_errors_on_the_digits_demo():
    from tda_core.data import load_demo

    data = load_demo("digits")
    proba = default_image_recipe().fit_predict(data, [Edit.baseline()], seed=0)
    accuracy = (proba[0, 0].argmax(-1) == data.y_test).mean()
    assert 0.5 <= accuracy <= 0.9, accuracy  # learns, and leaves errors to attribute


def test_uploaded_weights_are_hashed_once_per_state(monkeypatch):
    from tda_core.recipes.torch import _recipe as recipe_module

    calls = []
    original = recipe_module.state_hash
    monkeypatch.setattr(recipe_module, "state_hash", lambda state: calls.append(1) or original(state))
    a = ARCHITECTURES["small_cnn"](10, (1, 28, 28)).state_dict()
    uploaded = TorchRecipe(initial_state=a)
    first = uploaded.fingerprint()
    assert uploaded.fingerprint() == first and len(calls) == 1
    b = {k: v + 1 for k, v in a.items()}
    assert uploaded.set_params(initial_state=b).fingerprint() != first and len(calls) == 2
    assert uploaded.set_params(initial_state=a).fingerprint() == first
