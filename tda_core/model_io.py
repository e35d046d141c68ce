"""Loading uploaded models safely. Formats that run code when loaded need explicit trust."""

from __future__ import annotations

from pathlib import Path

from .data import Dataset
from .exceptions import ModelError, UntrustedFileError
from .models import Recipe, SklearnRecipe

SKLEARN_SAFE = (".skops",)
CODE_FORMATS = (".pkl", ".pickle", ".joblib")
TORCH_WEIGHTS = (".safetensors", ".pt", ".pth", ".py")


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
                "(skops.io.dump) or pass --trust-code if you trust this file"
            )
        import joblib

        estimator = joblib.load(path)
    elif suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=path)
            if untrusted and not trust_code:
                raise UntrustedFileError(
                    f"{path.name} holds types that are not trusted by default ({', '.join(untrusted)}); "
                    "pass --trust-code if you trust this file"
                )
            estimator = sio.load(path, trusted=untrusted or None)
        except UntrustedFileError:
            raise
        except Exception as exc:
            raise ModelError(f"{path.name}: not a readable .skops file ({exc.__class__.__name__}: {exc})") from None
    else:
        raise ModelError(f"{path.name}: unknown model format {suffix}")
    recipe = SklearnRecipe(estimator)
    recipe.name = f"{type(recipe.final_step).__name__} ({path.name})"
    return recipe


def load_model(
    path: str | Path,
    data: Dataset,
    arch: str | None = None,
    trust_code: bool = False,
    epochs: int | None = None,
    mode: str = "full",
) -> Recipe:
    """The training recipe for an uploaded model file."""
    suffix = Path(path).suffix.lower()
    if suffix in TORCH_WEIGHTS:
        if not arch and suffix != ".py":
            raise ModelError(f"{Path(path).name}: PyTorch weights need --arch NAME (the architecture they fit)")
        from .torch_recipes import network_input_shape, recipe_from_weights

        recipe = recipe_from_weights(path, arch or "custom", data.n_classes, network_input_shape(data), trust_code=trust_code)
        return recipe.with_options(epochs=epochs, mode=mode) if hasattr(recipe, "with_options") else recipe
    if suffix in SKLEARN_SAFE + CODE_FORMATS:
        return load_sklearn(path, trust_code)
    raise ModelError(
        f"{Path(path).name}: unknown model format {suffix or '(none)'}; give .skops (scikit-learn) "
        "or .safetensors/.pt weights with --arch"
    )
