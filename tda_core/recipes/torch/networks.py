"""The networks a :class:`~tda_core.recipes.torch.recipe.TorchRecipe` trains: the architecture
registry, loading and checking weights, and helpers that run a network (features, probabilities).

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...data.dataset import Dataset
from ...exceptions import ModelError
from ..preprocessing import tabular_preprocessor

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


# ---------------------------------------------------------------------------------------
# Architectures: name -> factory(n_classes, input_shape) -> nn.Module


def _small_cnn(n_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Two 3x3 stride-2 conv + ReLU layers (8 and 16 channels), a 64-unit ReLU layer, a linear head.

    Strided convolutions rather than max-pooling: a max-pool routes its gradient by ties that
    float rounding can flip, so stacked (vmap) and one-at-a-time training drift apart over the
    epochs; without it they agree to float32 rounding."""
    from torch import nn

    if len(input_shape) != 3:
        raise ModelError(f"small_cnn needs images of shape (channels, H, W), not {tuple(input_shape)}; use mlp for tables")
    c, h, w = input_shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
    return nn.Sequential(
        nn.Conv2d(c, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * h4 * w4, 64),
        nn.ReLU(),
        nn.Linear(64, n_classes),
    )


def _mlp(n_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Flatten, one 128-unit ReLU layer, a linear head. Works on images and on tabular features."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(int(np.prod(input_shape)), 128),
        nn.ReLU(),
        nn.Linear(128, n_classes),
    )


def _resnet18(n_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """torchvision's ResNet-18 (no pretrained weights) for small inputs: 3x3 stride-1 conv1 taking
    the data's channels (1 for grayscale), no max-pool, ``n_classes`` outputs."""
    from torch import nn
    from torchvision.models import resnet18

    if len(input_shape) != 3:
        raise ModelError(f"resnet18 needs images of shape (channels, H, W), not {tuple(input_shape)}")
    model = resnet18(weights=None, num_classes=n_classes)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


ARCHITECTURES: dict[str, Callable[[int, Sequence[int]], nn.Module]] = {
    "small_cnn": _small_cnn,
    "mlp": _mlp,
    "resnet18": _resnet18,
}
#: Architectures without batch norm or dropout: full training can stack them with torch.func.
VMAP_ARCHITECTURES = ("small_cnn", "mlp")


# ---------------------------------------------------------------------------------------
# Helpers


def state_hash(state: Mapping[str, Any]) -> str:
    """A sha256 of a state dict's names, dtypes, shapes and bytes."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    from torch import nn

    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError("head mode needs a network whose last layer is an nn.Linear; this one has none")
    return linears[-1]


def load_code(path: Path) -> Callable[..., nn.Module]:
    spec = importlib.util.spec_from_file_location(f"tda_user_model_{file_hash(path)[:12]}", path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path.name}: cannot import the file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelError(f"{path.name}: importing the model definition failed ({exc.__class__.__name__}: {exc})") from None
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise ModelError(f"{path.name}: the file must define build_model(n_classes, input_shape) returning an nn.Module")
    return build


def check_state(model: nn.Module, state: Mapping[str, Any], what: str) -> None:
    """Raise a :class:`ModelError` naming the first layer whose weights do not fit ``model``."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    for key, shape in expected.items():
        if key not in given:
            raise ModelError(f"the weights do not fit {what}: the file has no layer {key} (expected shape {shape})")
        if given[key] != shape:
            raise ModelError(
                f"the weights do not fit {what}: layer {key} has shape {given[key]} in the file, "
                f"the architecture expects {shape}"
            )
    extra = sorted(set(given) - set(expected))
    if extra:
        raise ModelError(f"the weights do not fit {what}: the file has layer {extra[0]}, which the architecture lacks")


def penultimate(model: nn.Module, X: np.ndarray, rows: int = 1024) -> np.ndarray:
    """The inputs of the model's last ``nn.Linear`` layer (eval mode), float32 (N, D)."""
    import torch

    _, head = last_linear(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach()))
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(X), rows):
                model(torch.from_numpy(np.ascontiguousarray(X[i : i + rows])))
    finally:
        hook.remove()
    if not captured:
        return np.zeros((0, head.in_features), dtype=np.float32)
    return torch.cat(captured).reshape(len(X), -1).numpy().astype(np.float32)


def predict_proba(model: nn.Module, X: torch.Tensor, rows: int = 1024) -> np.ndarray:
    """Softmax probabilities of ``model`` in eval mode, (n, C) float32."""
    import torch

    model.eval()
    with torch.no_grad():
        parts = [torch.softmax(model(X[i : i + rows]), dim=-1) for i in range(0, len(X), rows)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Uploaded weights and input shapes


def read_state(path: Path) -> dict[str, Any]:
    import torch

    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path.name}: not a readable safetensors file ({exc})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... ; one line for the user
            raise ModelError(
                f"{path.name}: not a state dict that loads with weights_only=True ({exc.__class__.__name__}); "
                "save model.state_dict() with torch.save, or as .safetensors"
            ) from None
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(wrapper), Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path.name}: expected a state dict (layer name -> tensor); save model.state_dict()")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def network_input_shape(data: Dataset) -> tuple[int, ...]:
    """The shape of one input row as the network sees it: (channels, H, W) for images, the width
    of the standard tabular preprocessing (one-hot columns included) for tables."""
    if data.kind == "tabular":
        return (int(tabular_preprocessor().fit(data.X_train).transform(data.X_train.iloc[:1]).shape[1]),)
    return tuple(int(s) for s in np.asarray(data.X_train).shape[1:])
