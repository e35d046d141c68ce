"""The networks a :class:`~tda_core.recipes.torch._recipe.TorchRecipe` trains: the architecture
registry, loading and checking weights, the device, and helpers that run a network (features,
probabilities).

Two families of architectures (:data:`ARCHITECTURES`):

* **torchvision's own classifiers** (``resnet18``, ``resnet34``, ``resnet50``,
  ``mobilenet_v3_small``, ``efficientnet_b0``): built as ``torchvision.models.<name>(weights=None,
  num_classes=C)``, so a state dict saved from the torchvision model (fine-tuned for the user's C
  classes) loads exactly. Their input is :data:`~tda_core.data._images.IMAGENET_INPUT`: 224x224
  RGB, ImageNet mean/std. Nothing is ever downloaded: weights come only from the user's file.
* **small networks** (``small_cnn``, ``mlp``, ``resnet18_small``: ResNet-18 with a 3x3 stride-1
  ``conv1`` taking the data's channels and no max-pool): input
  :data:`~tda_core.data._images.SMALL_INPUT`, 28x28, the data's channels, [-1, 1].

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._exceptions import ModelError, reason
from ...data._dataset import Dataset
from ...data._images import IMAGENET_INPUT, SMALL_INPUT, ImageInput
from .._preprocessing import tabular_preprocessor

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


def _resnet18_small(n_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """torchvision's ResNet-18 (no pretrained weights) for small inputs: 3x3 stride-1 conv1 taking
    the data's channels (1 for grayscale), no max-pool, ``n_classes`` outputs."""
    from torch import nn
    from torchvision.models import resnet18

    if len(input_shape) != 3:
        raise ModelError(f"resnet18_small needs images of shape (channels, H, W), not {tuple(input_shape)}")
    model = resnet18(weights=None, num_classes=n_classes)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _torchvision(name: str) -> Callable[[int, Sequence[int]], nn.Module]:
    """torchvision's classifier ``name`` as torchvision builds it, without pretrained weights."""

    def build(n_classes: int, input_shape: Sequence[int]) -> nn.Module:
        from torchvision import models

        if len(input_shape) != 3:
            raise ModelError(f"{name} needs images of shape (channels, H, W), not {tuple(input_shape)}")
        if input_shape[0] != 3:
            raise ModelError(
                f"{name} takes RGB images (3 channels), not {input_shape[0]}: load the images for {name} "
                f"({IMAGENET_INPUT.describe(3)})"
            )
        return getattr(models, name)(weights=None, num_classes=n_classes)

    build.__name__ = build.__qualname__ = f"build_{name}"
    return build


@dataclass(frozen=True)
class Architecture:
    """A named network: ``build(n_classes, input_shape)`` (calling the architecture builds it),
    its native ``input`` (size, channels, normalisation), whether full training can stack it with
    ``torch.func`` (``stackable``: no batch norm, no dropout), and whether it is torchvision's
    own classifier (standard state dicts load)."""

    name: str
    build: Callable[[int, Sequence[int]], nn.Module]
    input: ImageInput
    stackable: bool = False
    torchvision: bool = False
    description: str = ""

    def __call__(self, n_classes: int, input_shape: Sequence[int]) -> nn.Module:
        return self.build(n_classes, tuple(input_shape))


#: torchvision's classifiers offered under their own names (see the module docstring).
TORCHVISION_CLASSIFIERS = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "efficientnet_b0")

ARCHITECTURES: dict[str, Architecture] = {
    "small_cnn": Architecture("small_cnn", _small_cnn, SMALL_INPUT, stackable=True, description="two strided convolutions, 28x28"),
    "mlp": Architecture("mlp", _mlp, SMALL_INPUT, stackable=True, description="one hidden layer; images or tables"),
    **{
        name: Architecture(name, _torchvision(name), IMAGENET_INPUT, torchvision=True, description=f"torchvision {name}, 224x224 RGB")
        for name in TORCHVISION_CLASSIFIERS
    },
    "resnet18_small": Architecture(
        "resnet18_small", _resnet18_small, SMALL_INPUT, description="ResNet-18 for 28x28 inputs (3x3 conv1, no max-pool)"
    ),
}
#: Architectures without batch norm or dropout: full training stacks them by default.
VMAP_ARCHITECTURES = tuple(name for name, arch in ARCHITECTURES.items() if arch.stackable)
#: Architectures with dropout, which never stack (vmap would draw other masks than one network
#: alone); the others with batch norm stack when asked (``TorchRecipe(stack=N)``: ``vmap`` with
#: each network's running statistics stacked beside its parameters).
DROPOUT_ARCHITECTURES = ("mobilenet_v3_small", "efficientnet_b0")


def image_input(arch: str | None = None, size: int | None = None) -> ImageInput:
    """The input images must be loaded for: the native input of ``arch`` (None: ``small_cnn``,
    the default recipe's; a name outside :data:`ARCHITECTURES`, such as a model definition's:
    the small networks' input), at ``size`` pixels when given (the user's override)."""
    native = ARCHITECTURES[arch].input if arch in ARCHITECTURES else SMALL_INPUT
    return native.with_size(size)


# ---------------------------------------------------------------------------------------
# The device

#: What a recipe's ``device`` may be: the GPU when there is one (auto), the CPU, or CUDA.
DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str) -> None:
    """A :class:`ModelError` for an unknown device, or ``cuda`` where torch sees no GPU."""
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ModelError("device cuda: torch sees no CUDA GPU here; choose auto (the GPU when there is one) or cpu")


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device for ``device``: ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    import torch

    check_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        # cuBLAS is deterministic only with a fixed workspace; read when its handle is created.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(device)


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
        raise ModelError(f"{path.name}: importing the model definition failed ({reason(exc) or 'no reason given'})") from exc
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise ModelError(f"{path.name}: the file must define build_model(n_classes, input_shape) returning an nn.Module")
    return build


def check_state(model: nn.Module, state: Mapping[str, Any], what: str) -> None:
    """Raise a :class:`ModelError` naming the first layer whose weights do not fit ``model``
    (strict: every layer present, none extra, every shape equal)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    for key, shape in expected.items():
        if key not in given:
            raise ModelError(f"the weights do not fit {what}: the file has no layer {key} (expected shape {shape})")
        if given[key] != shape:
            raise ModelError(
                f"the weights do not fit {what}: layer {key} has shape {given[key]} in the file, "
                f"the architecture expects {shape}{_classes_hint(model, key, given[key], shape)}"
            )
    extra = sorted(set(given) - set(expected))
    if extra:
        raise ModelError(f"the weights do not fit {what}: the file has layer {extra[0]}, which the architecture lacks")


@functools.lru_cache(maxsize=64)
def _layer_shapes(arch: str, n_classes: int, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]] | None:
    """The layers of ``arch`` built for ``n_classes`` and ``input_shape`` (None: it cannot be built so)."""
    import torch

    try:
        with torch.random.fork_rng(devices=[]):
            model = ARCHITECTURES[arch](n_classes, input_shape)
    except ModelError:
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def fitting_architectures(state: Mapping[str, Any], n_classes: int, input_shape: Sequence[int]) -> list[str]:
    """The registered architectures whose layers ``state`` fits exactly for this data (names and shapes)."""
    given = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    return [name for name in ARCHITECTURES if _layer_shapes(name, int(n_classes), tuple(int(s) for s in input_shape)) == given]


def _classes_hint(model: nn.Module, key: str, given: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """When the mismatch is the last layer's number of outputs: say so in the user's words."""
    try:
        name, _ = last_linear(model)
    except ModelError:
        return ""
    if key in (f"{name}.weight", f"{name}.bias") and given[1:] == expected[1:] and given[:1] != expected[:1]:
        return f" (the file's last layer has {given[0]} outputs; the data has {expected[0]} classes)"
    return ""


#: Pixels per forward pass when a network only predicts (rows x H x W): 64 images of 224x224.
EVAL_PIXELS = 64 * 224 * 224


def eval_rows(X: np.ndarray | torch.Tensor, most: int = 1024) -> int:
    """Rows per forward pass when predicting ``X``: at most ``most``, fewer for large images so
    that the activations of a ResNet-50 at 224x224 stay near a gigabyte."""
    pixels = int(np.prod(X.shape[2:])) if len(X.shape) > 2 else 1
    return max(1, min(most, EVAL_PIXELS // max(1, pixels)))


#: Images of at least this many pixels go through feature extraction in channels-last memory
#: format: 1.3-1.6x faster for a ResNet-18 at 224x224 on a CPU, slower at 64x64 (measured).
CHANNELS_LAST_PIXELS = 128 * 128


def penultimate(model: nn.Module, X: np.ndarray, rows: int | None = None, device: str | torch.device = "cpu") -> np.ndarray:
    """The inputs of the model's last ``nn.Linear`` layer (eval mode), float32 (N, D), computed
    on ``device`` (the model is moved there) ``rows`` at a time (None: :func:`eval_rows`).
    Large images run in channels-last format (:data:`CHANNELS_LAST_PIXELS`); the features agree
    with the default format to float rounding."""
    import torch

    _, head = last_linear(model)
    rows = rows or eval_rows(X)
    layout = torch.channels_last if X.ndim == 4 and X.shape[2] * X.shape[3] >= CHANNELS_LAST_PIXELS else torch.contiguous_format
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach().cpu()))
    model.to(device).eval()
    model.to(memory_format=layout)
    try:
        with torch.no_grad():
            for i in range(0, len(X), rows):
                batch = torch.from_numpy(np.ascontiguousarray(X[i : i + rows])).to(device)
                model(batch.contiguous(memory_format=layout))
    finally:
        hook.remove()
        model.to(memory_format=torch.contiguous_format)
    if not captured:
        return np.zeros((0, head.in_features), dtype=np.float32)
    return torch.cat(captured).reshape(len(X), -1).numpy().astype(np.float32)


def predict_proba(model: nn.Module, X: torch.Tensor, rows: int | None = None) -> np.ndarray:
    """Softmax probabilities of ``model`` in eval mode, (n, C) float32 on the CPU (``X`` on the
    model's device), ``rows`` at a time (None: :func:`eval_rows`)."""
    import torch

    rows = rows or eval_rows(X)
    model.eval()
    with torch.no_grad():
        parts = [torch.softmax(model(X[i : i + rows]), dim=-1).cpu() for i in range(0, len(X), rows)]
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
            raise ModelError(f"{path.name}: not a readable safetensors file ({reason(exc) or 'no reason given'})") from exc
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... ; one line for the user
            raise ModelError(
                f"{path.name}: not a state dict that loads with weights_only=True (it holds objects other than "
                "tensors, or is no PyTorch file); save model.state_dict() with torch.save, or as .safetensors"
            ) from exc
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
