"""Model files: loading an uploaded model as a recipe, safely.

Formats that run code when loaded (pickle, joblib, a model definition ``.py``) are refused
with :class:`~tda_core._exceptions.UntrustedFileError` unless the user says they trust the file.
``.skops`` files load only the types skops trusts by default; PyTorch weights load as a state
dict (``.safetensors``, or ``.pt`` with ``weights_only=True``) into a named architecture
(torchvision's own classifiers, or the small networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ModelError, UntrustedFileError, reason, way_out
from ..data._dataset import Dataset
from ._base import Recipe
from ._sklearn_recipe import SklearnRecipe

SKLEARN_SAFE = (".skops",)
CODE_FORMATS = (".pkl", ".pickle", ".joblib")
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
CODE_SUFFIXES = (".py",)


def load_sklearn(path: str | Path, trust_code: bool = False) -> SklearnRecipe:
    """A scikit-learn estimator from ``.skops`` (only trusted types), or pickle/joblib if trusted."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if suffix in CODE_FORMATS:
        if not trust_code:
            raise UntrustedFileError(
                f"{path.name}: {suffix} files run code when loaded; save the model with skops "
                f"(skops.io.dump) or {way_out('trust_file')}"
            )
        import joblib

        try:
            estimator = joblib.load(path)
        except Exception as exc:  # a damaged file, or a class this environment lacks: one line for the user
            raise ModelError(f"{path.name}: not a readable {suffix} file ({reason(exc) or 'no reason given'})") from exc
    elif suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path)
            if untrusted and not trust_code:
                raise UntrustedFileError(
                    f"{path.name} holds types that are not trusted by default ({', '.join(untrusted)}); "
                    f"{way_out('trust_file')} to load it"
                )
            estimator = sio.load(path, trusted=untrusted or None)
        except UntrustedFileError:
            raise
        except Exception as exc:
            raise ModelError(f"{path.name}: not a readable .skops file ({reason(exc) or 'no reason given'})") from exc
    else:
        raise ModelError(f"{path.name}: unknown model format {suffix}")
    recipe = SklearnRecipe(estimator)
    return recipe.set_params(name=f"{type(recipe.final_step).__name__} ({path.name})")


def recipe_from_weights(
    path: str | Path,
    arch: str,
    data: Dataset,
    trust_code: bool = False,
    code: str | Path | None = None,
    **recipe_params: Any,
) -> Recipe:
    """A :class:`~tda_core.recipes.torch._recipe.TorchRecipe` whose members all start from uploaded weights.

    ``path`` is a ``.safetensors`` file or a ``.pt``/``.pth`` state dict (loaded with
    ``weights_only=True``), checked against ``arch`` built for the data (a :class:`ModelError`
    names the first layer that does not fit). A model definition (``path`` itself, or
    ``code``) is a ``.py`` file defining ``build_model(n_classes, input_shape)``; it runs code,
    so it is refused unless ``trust_code=True``. ``recipe_params`` go to the recipe.
    """
    from .torch._networks import ARCHITECTURES, network_input_shape, read_state
    from .torch._recipe import TorchRecipe

    path = Path(path)
    suffix = path.suffix.lower()
    code_path = Path(code) if code is not None else (path if suffix in CODE_SUFFIXES else None)
    if suffix in CODE_FORMATS + SKLEARN_SAFE:
        raise UntrustedFileError(
            f"{path.name}: {suffix} files are not accepted for networks; save model.state_dict() as .safetensors (or .pt)"
        )
    if code_path is not None:
        if code_path.suffix.lower() not in CODE_SUFFIXES:
            raise ModelError(f"{code_path.name}: a model definition must be a .py file")
        if not trust_code:
            raise UntrustedFileError(
                f"{code_path.name}: a model definition runs its code when loaded; "
                f"{way_out('trust_it')} only for files you wrote or checked"
            )
        if not code_path.is_file():
            raise ModelError(f"{code_path.name}: file not found")
    elif suffix not in WEIGHT_SUFFIXES:
        raise ModelError(f"{path.name}: unsupported model file {suffix or '(none)'}; give .safetensors, .pt or .pth weights")
    elif arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
    state = None
    if suffix in WEIGHT_SUFFIXES:
        if not path.is_file():
            raise ModelError(f"{path.name}: file not found")
        state = _read_weights(path, read_state)
    label = arch if code_path is None else (arch or code_path.stem)
    name = recipe_params.pop("name", None) or f"{label}-{path.stem}"
    recipe = TorchRecipe(label, initial_state=state, code_path=code_path, name=name, **recipe_params)
    recipe.validate(data)
    recipe.build(data.n_classes, network_input_shape(data))  # fails early, naming the layer, if the weights do not fit
    return recipe


#: The largest magnitude a weight may have: trained networks stay many orders below it, and
#: larger values overflow float32 activations within a few layers (NaN features, then a failed fit).
MAX_ABS_WEIGHT = 1e6


def _read_weights(path: Path, read_state: Any) -> dict[str, Any]:
    """The state dict of ``path`` (``read_state`` of the networks module), refused in words when
    its keys are not layer names or a floating tensor holds NaN, infinities or huge values.
    Warnings of the loader (legacy pickle formats...) are not the user's words: not shown."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state = read_state(path)
        except (AttributeError, TypeError) as exc:  # keys that are not text: 'int' object has no attribute 'startswith'
            raise ModelError(f"{path.name}: not a state dict: its keys must be layer names (text, such as 'conv1.weight'); "
                             "save model.state_dict()") from exc
    bad = [k for k in state if not isinstance(k, str)]
    if bad:
        raise ModelError(f"{path.name}: not a state dict: its keys must be layer names (text), not {bad[0]!r}; save model.state_dict()")
    for name, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        finite = bool(tensor.isfinite().all())
        largest = float(tensor.abs().max()) if finite else float("nan")
        if not finite or largest > MAX_ABS_WEIGHT:
            what = "NaN or infinite values" if not finite else f"values up to {largest:.3g}"
            raise ModelError(f"{path.name}: the layer {name!r} holds {what} (at most {MAX_ABS_WEIGHT:g} in magnitude); "
                             "a network cannot train from them: save the weights of a trained network")
    return state


def load_model(
    path: str | Path,
    data: Dataset,
    arch: str | None = None,
    trust_code: bool = False,
    network_params: dict[str, Any] | None = None,
) -> Recipe:
    """The training recipe for an uploaded model file. ``network_params`` (``epochs``,
    ``mode``, ``checkpoints``...) apply to PyTorch weights only."""
    suffix = Path(path).suffix.lower()
    if suffix in WEIGHT_SUFFIXES + CODE_SUFFIXES:
        if not arch and suffix not in CODE_SUFFIXES:
            raise ModelError(f"{Path(path).name}: PyTorch weights need the name of the architecture they fit "
                             "(for example resnet18 for torchvision's, or small_cnn)")
        return recipe_from_weights(path, arch or "custom", data, trust_code=trust_code, **(network_params or {}))
    if suffix in CODE_FORMATS and data.kind == "images" and not trust_code:
        raise UntrustedFileError(
            f"{Path(path).name}: {suffix} files run code when loaded; for a network, save model.state_dict() as "
            f".safetensors (or .pt) and give its architecture, or {way_out('trust_file')}"
        )
    if suffix in SKLEARN_SAFE + CODE_FORMATS:
        return load_sklearn(path, trust_code)
    raise ModelError(
        f"{Path(path).name}: unknown model format {suffix or '(none)'}; give .skops (scikit-learn) "
        "or .safetensors/.pt weights with their architecture"
    )


def supported_suffixes() -> Sequence[str]:
    return SKLEARN_SAFE + CODE_FORMATS + WEIGHT_SUFFIXES + CODE_SUFFIXES
