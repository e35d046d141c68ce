"""Model files: .skops loads only trusted types, pickles and model code are refused unless
trusted (and never run when refused), network weights load as state dicts into an architecture."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tda_core._actions import Edit
from tda_core._exceptions import ModelError, UntrustedFileError
from tda_core.recipes import SklearnRecipe, load_model
from tda_core.recipes._files import load_sklearn, recipe_from_weights, supported_suffixes
from tda_core.recipes._preprocessing import tabular_preprocessor

NUMERIC = ["duration_months", "credit_amount", "installment_rate", "age"]
CATEGORICAL = ["checking_account", "credit_history"]


def trusted_pipeline():
    """Only types that skops trusts by default (explicit column lists, no column selector)."""
    columns = ColumnTransformer([("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return make_pipeline(columns, LogisticRegression(max_iter=1000))


class _Payload:
    """Unpickling this creates a file: the proof that a loader executed code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_skops_with_trusted_types_loads_without_trust(credit, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(trusted_pipeline(), path)
    assert sio.get_untrusted_types(file=path) == []
    recipe = load_model(path, credit)
    assert isinstance(recipe, SklearnRecipe) and recipe.display_name == "LogisticRegression (model.skops)"
    proba = recipe.fit_predict(credit, [Edit.baseline()], seed=0)[0, 0]
    expected = trusted_pipeline().fit(credit.X_train, credit.y_train).predict_proba(credit.X_test)
    np.testing.assert_allclose(proba, expected, atol=1e-12)


def test_skops_with_untrusted_types_needs_trust(credit, tmp_path):
    path = tmp_path / "forest.skops"
    sio.dump(make_pipeline(tabular_preprocessor(), RandomForestClassifier(n_estimators=3)), path)
    with pytest.raises(UntrustedFileError, match=r"forest\.skops holds types that are not trusted by default \(numpy\.number, "
                       r"sklearn\.compose\._column_transformer\.make_column_selector, tda_core\.recipes\._preprocessing\.CategoryCodes\); say that you trust this file to load it"):
        load_model(path, credit)
    recipe = load_model(path, credit, trust_code=True)
    assert recipe.display_name == "RandomForestClassifier (forest.skops)"


def test_unreadable_skops_is_a_model_error(credit, tmp_path):
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 not a skops file")
    with pytest.raises(ModelError, match=r"bad\.skops: not a readable \.skops file"):
        load_model(tmp_path / "bad.skops", credit)


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".joblib"])
def test_pickles_are_refused_unless_trusted_and_never_run_when_refused(credit, tmp_path, suffix):
    marker = tmp_path / "executed"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(UntrustedFileError, match=rf"model\{suffix}: \{suffix} files run code when loaded; save the model with skops"):
        load_model(path, credit)
    assert not marker.exists()
    with pytest.raises(UntrustedFileError):
        load_sklearn(path)
    assert not marker.exists()


def test_a_trusted_joblib_file_loads(credit, tmp_path):
    joblib.dump(make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=500)), tmp_path / "m.joblib")
    recipe = load_model(tmp_path / "m.joblib", credit, trust_code=True)
    assert recipe.display_name == "LogisticRegression (m.joblib)"


def test_unknown_and_missing_files(credit, tmp_path):
    with pytest.raises(ModelError, match=r"m\.onnx: unknown model format \.onnx; give \.skops \(scikit-learn\) or \.safetensors/\.pt weights"):
        load_model(tmp_path / "m.onnx", credit)
    with pytest.raises(ModelError, match=r"missing\.skops: model file not found"):
        load_model(tmp_path / "missing.skops", credit)
    assert set(supported_suffixes()) == {".skops", ".pkl", ".pickle", ".joblib", ".safetensors", ".pt", ".pth", ".py"}


# --- network weights ---------------------------------------------------------------------------


@pytest.fixture()
def weights(tiny_images, tmp_path) -> tuple[Path, dict]:
    import torch
    from safetensors.torch import save_file

    from tda_core.recipes.torch._networks import ARCHITECTURES

    torch.manual_seed(123)
    model = ARCHITECTURES["small_cnn"](3, tiny_images.X_train.shape[1:])
    state = model.state_dict()
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    torch.save({"state_dict": state}, tmp_path / "wrapped.pth")
    torch.save({f"module.{k}": v.double() for k, v in state.items()}, tmp_path / "parallel.pt")
    torch.save(model, tmp_path / "pickled.pt")  # a whole pickled module, not a state dict
    return tmp_path, state


def test_weights_load_from_every_format_into_the_same_recipe(tiny_images, weights):
    folder, state = weights
    recipes = [load_model(folder / name, tiny_images, arch="small_cnn")
               for name in ("w.safetensors", "w.pt", "wrapped.pth", "parallel.pt")]
    assert len({r.fingerprint() for r in recipes}) == 1
    for recipe in recipes:
        assert recipe.arch == "small_cnn" and recipe.initial_state is not None
        assert sorted(recipe.initial_state) == sorted(state)
        for key, value in state.items():
            np.testing.assert_array_equal(recipe.initial_state[key].numpy(), value.numpy())
            assert recipe.initial_state[key].dtype == value.dtype  # float64 weights come back as float32
    assert recipes[0].display_name == "small_cnn-w"
    # The weights key the cache: the same network without them is another recipe.
    from tda_core.recipes.torch._recipe import TorchRecipe

    assert recipes[0].fingerprint() != TorchRecipe("small_cnn").fingerprint()


def test_network_params_reach_the_recipe(tiny_images, weights):
    folder, _ = weights
    recipe = load_model(folder / "w.safetensors", tiny_images, arch="small_cnn",
                        network_params={"epochs": 3, "mode": "head", "checkpoints": (48, 49, 50)})
    assert (recipe.epochs, recipe.mode, recipe.checkpoint_epochs) == (3, "head", (48, 49, 50))


def test_weights_that_do_not_fit_name_the_layer(tiny_images, weights, tmp_path):
    import torch

    from tda_core.data import Dataset

    folder, _ = weights
    two = Dataset("two", "images", tiny_images.X_train, tiny_images.y_train % 2, tiny_images.X_test, tiny_images.y_test % 2,
                  ("a", "b"), tiny_images.train_ids, tiny_images.test_ids)
    with pytest.raises(ModelError, match=r"layer 7\.weight has shape \(3, 64\) in the file, the architecture expects \(2, 64\)"):
        recipe_from_weights(folder / "w.safetensors", "small_cnn", two)
    with pytest.raises(ModelError, match=r"the weights do not fit mlp for 3 classes and input \(1, 8, 8\): the file has no layer 1\.weight"):
        recipe_from_weights(folder / "w.safetensors", "mlp", tiny_images)
    with pytest.raises(ModelError, match=r"pickled\.pt: not a state dict that loads with weights_only=True \(it holds objects other than tensors, or "
                       r"is no PyTorch file\); save model\.state_dict\(\) with torch\.save, or as \.safetensors$"):
        recipe_from_weights(folder / "pickled.pt", "small_cnn", tiny_images)
    with pytest.raises(ModelError, match=r"unknown architecture 'vgg': choose one of small_cnn, mlp, resnet18"):
        recipe_from_weights(folder / "w.safetensors", "vgg", tiny_images)
    with pytest.raises(ModelError, match=r"w\.safetensors: PyTorch weights need the name of the architecture they fit \(for example resnet18"):
        load_model(folder / "w.safetensors", tiny_images)
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ModelError, match=r"corrupt\.safetensors: not a readable safetensors file"):
        recipe_from_weights(tmp_path / "corrupt.safetensors", "small_cnn", tiny_images)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelError, match=r"list\.pt: expected a state dict \(layer name -> tensor\); save model\.state_dict\(\)"):
        recipe_from_weights(tmp_path / "list.pt", "small_cnn", tiny_images)
    with pytest.raises(ModelError, match=r"gone\.pt: file not found"):
        recipe_from_weights(tmp_path / "gone.pt", "small_cnn", tiny_images)


def test_a_pickle_payload_in_a_pt_file_never_runs(tiny_images, tmp_path):
    marker = tmp_path / "executed"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Payload(str(marker)), protocol=2))
    with pytest.raises(ModelError, match="weights_only=True"):
        recipe_from_weights(tmp_path / "evil.pt", "small_cnn", tiny_images)
    assert not marker.exists()


def test_model_code_needs_trust_and_never_runs_without(tiny_images, tmp_path):
    marker = tmp_path / "executed"
    code = tmp_path / "net.py"
    code.write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from torch import nn\n"
        "def build_model(n_classes, input_shape):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[1] * input_shape[2], 16), nn.ReLU(), nn.Linear(16, n_classes))\n"
    )
    with pytest.raises(UntrustedFileError, match=r"net\.py: a model definition runs its code when loaded; say that you trust it"):
        load_model(code, tiny_images)
    assert not marker.exists()
    recipe = load_model(code, tiny_images, trust_code=True, network_params={"epochs": 2})
    assert marker.exists()  # trusted: it ran
    assert recipe.arch == "custom" and recipe.code_path == code and recipe.display_name == "custom-net"
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(UntrustedFileError, match=r"model\.pkl: \.pkl files are not accepted for networks; save model\.state_dict\(\) as \.safetensors"):
        recipe_from_weights(tmp_path / "model.pkl", "custom", tiny_images, trust_code=True)
    with pytest.raises(ModelError, match=r"net\.txt: a model definition must be a \.py file"):
        recipe_from_weights(tmp_path / "w.safetensors", "small_cnn", tiny_images, trust_code=True, code=tmp_path / "net.txt")
    broken = tmp_path / "broken.py"
    broken.write_text("def nothing():\n    pass\n")
    with pytest.raises(ModelError, match=r"broken\.py: the file must define build_model\(n_classes, input_shape\) returning an nn\.Module"):
        load_model(broken, tiny_images, trust_code=True)


@pytest.mark.slow
def test_uploaded_weights_are_every_members_starting_point(tiny_images, weights):
    import torch

    from tda_core.recipes.torch._networks import ARCHITECTURES

    folder, state = weights
    model = ARCHITECTURES["small_cnn"](3, tiny_images.X_train.shape[1:])
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(tiny_images.X_test)), -1).numpy()
    frozen = load_model(folder / "w.safetensors", tiny_images, arch="small_cnn", network_params={"epochs": 1})
    frozen.set_params(lr=0.0, weight_decay=0.0)
    for seed in (0, 7):  # lr 0: every seed is the uploaded network itself
        np.testing.assert_allclose(frozen.fit_predict(tiny_images, [Edit.baseline()], seed=seed)[0, 0], expected, atol=1e-6)
    tuned = load_model(folder / "w.safetensors", tiny_images, arch="small_cnn", network_params={"epochs": 2})
    assert np.abs(tuned.fit_predict(tiny_images, [Edit.baseline()], seed=0)[0, 0] - expected).max() > 1e-3


@pytest.mark.slow
def test_trusted_model_code_trains_and_survives_pickling(tiny_images, tmp_path):
    code = tmp_path / "net.py"
    code.write_text(
        "from torch import nn\n"
        "def build_model(n_classes, input_shape):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[1] * input_shape[2], 16), nn.ReLU(), nn.Linear(16, n_classes))\n"
    )
    recipe = load_model(code, tiny_images, trust_code=True, network_params={"epochs": 2})
    edits = [Edit.baseline(), Edit("remove", (0,))]
    proba = recipe.fit_predict(tiny_images, edits, seed=0)
    assert proba.shape == (2, 1, tiny_images.n_test, 3)
    assert np.abs(proba[1] - proba[0]).max() > 1e-6
    again = pickle.loads(pickle.dumps(recipe))  # engine workers get a copy that re-imports the file
    np.testing.assert_array_equal(again.fit_predict(tiny_images, edits[:1], seed=0), proba[:1])


def test_a_pickle_for_image_data_points_to_a_state_dict(tiny_images, tmp_path):
    path = tmp_path / "net.pkl"
    path.write_bytes(b"not even read")
    with pytest.raises(UntrustedFileError, match=r"net\.pkl: \.pkl files run code when loaded; for a network, save model\.state_dict\(\)"):
        load_model(path, tiny_images)
