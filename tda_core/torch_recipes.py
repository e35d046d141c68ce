"""PyTorch training recipes: a ``torch.nn.Module`` classifier trained by AdamW, many at once.

:class:`TorchRecipe` trains one network per :class:`~tda_core.actions.Edit` and seed:

* **Members.** A seed fixes the initialisation (``torch.manual_seed`` inside a forked RNG, so
  the global state is untouched) and the mini-batch order (a ``torch.Generator``). Each run
  records its predictions at ``checkpoints``, and each checkpoint is one ensemble member
  (default: the last three epochs in full mode; in head mode the last epoch, so that members
  come from seeds: checkpoints of a converged head hide the training noise).
* **Edits.** Removal is weight 0 in place (``removal = "zero_weight"``): the loss of a batch is
  ``sum_i w_i * ce_i / batch_size`` (divided by the batch size, not by the sum of weights), so a
  removed sample keeps its place in the batch order, every other sample gets exactly the
  gradient it had in the baseline, and upweighting x10 is exact. Relabel changes targets.
  Networks with batch normalisation (``resnet18``) still see a removed sample in the batch
  statistics; for them removal is exact only for the loss.
* **Modes.** ``mode="full"`` trains every parameter from the starting point (the uploaded
  weights, or the seed's random initialisation). ``mode="head"`` freezes the body of the
  starting network and retrains only its last ``nn.Linear`` layer (re-initialised from the seed
  like ``nn.Linear``) on the body's features. With no upload the starting network is the
  baseline network trained in full on the unedited data with that seed. The head trains for
  ``head_epochs`` (default 50: heads are cheap, and a fresh head needs them to converge). The features are
  computed once and cached on disk (:func:`tda_core.cache.memory`), keyed by the data
  fingerprint, the recipe's parameters and the seed.
* **Batched exact training.** In head mode all edits of a call train at once as stacked heads
  of shape (B, D, C) with batched matrix products, sharing the seed's initialisation and batch
  order. In full mode, architectures without batch norm (``small_cnn``, ``mlp``) train at once
  with ``torch.func`` (``vmap`` over stacked parameters); others train one at a time. Batched
  and one-at-a-time training agree to float32 rounding (tested to 1e-5).
* **Estimates** (candidate mode, ``--candidates N``): influence functions on the last linear
  layer of the seed's baseline model with a damped Hessian (:meth:`TorchRecipe.estimate_effects`),
  from the cached features. They only choose what to retrain.
* **Determinism.** On CPU the same seed gives identical probabilities
  (``torch.use_deterministic_algorithms`` is on while training, with ``threads`` torch threads,
  default 1; results are reproducible for a given thread count).

The networks (architectures, weights) live in :mod:`tda_core.networks`; head mode and the
estimates in :mod:`tda_core.heads`. torch is imported inside functions, so importing this
module is cheap.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .actions import Edit, apply_edit
from .data import Dataset
from .exceptions import ModelError, UntrustedFileError
from .heads import frozen_start, last_layer_estimates, train_heads
from .models import EvalOn, Recipe, tabular_preprocessor
from .networks import (
    ARCHITECTURES,
    VMAP_ARCHITECTURES,
    _batches,
    _file_hash,
    _load_code,
    _read_state,
    check_state,
    predict_proba,
    state_hash,
)
# Re-exported: code imports these from here.
from .networks import network_input_shape, penultimate  # noqa: F401

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

#: Bumped when a change in this file (or in networks.py, heads.py) changes what a recipe trains
#: (it keys the cache).
VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
CODE_SUFFIXES = (".py",)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".skops")
DEFAULT_IMAGE_EPOCHS = 10
#: Rows per forward pass when predicting (times the number of stacked models).
EVAL_ROWS = 8192


# ---------------------------------------------------------------------------------------
# Helpers


@contextlib.contextmanager
def _deterministic(threads: int | None = None) -> Iterator[None]:
    """Deterministic algorithms, and ``threads`` torch threads (None: as is), restored after."""
    import torch

    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    before = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------
# The recipe


class TorchRecipe(Recipe):
    """A ``torch.nn.Module`` classifier trained by mini-batch AdamW (see the module docstring).

    ``arch`` names an entry of :data:`ARCHITECTURES` (or describes ``code_path``, a trusted model
    definition with ``build_model(n_classes, input_shape)``). ``initial_state`` is a state dict
    every member starts from (uploaded weights). ``checkpoints`` are 1-based epochs (see
    :attr:`checkpoints` for the defaults). ``head_epochs`` is the head's training in head mode.
    ``batched`` only chooses how full-mode training runs, not what it computes.
    ``cache_dir``/``cache`` say where head-mode features are cached. ``threads`` is the number
    of torch threads while training (default 1; None leaves torch's setting): these networks
    are too small to gain from more, and on a busy 2-core machine two threads spin-wait. The
    CLI's ``attribute`` on 140 images (full mode, 3 epochs, 143 models) took 6.8-9.7 s with one
    thread and 20-42 s with two, on the same loaded machine. Probabilities are reproducible for
    a given thread count, so it is part of :meth:`params`.
    """

    removal = "zero_weight"

    def __init__(
        self,
        arch: str = "small_cnn",
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.005,
        mode: str = "full",
        head_epochs: int = 50,
        checkpoints: Sequence[int] | None = None,
        initial_state: Mapping[str, Any] | None = None,
        code_path: str | Path | None = None,
        name: str | None = None,
        batched: bool = True,
        cache_dir: str | Path | None = None,
        cache: bool = True,
        threads: int | None = 1,
    ):
        if mode not in ("full", "head"):
            raise ModelError(f"unknown mode {mode!r}: choose full or head")
        if code_path is None and arch not in ARCHITECTURES:
            raise ModelError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        if int(epochs) < 1:
            raise ModelError(f"epochs must be at least 1, not {epochs}")
        if int(batch_size) < 1:
            raise ModelError(f"batch_size must be at least 1, not {batch_size}")
        self.arch = arch
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.mode = mode
        self.head_epochs = int(head_epochs)
        if self.head_epochs < 1:
            raise ModelError(f"head_epochs must be at least 1, not {head_epochs}")
        self._checkpoint_arg = None if checkpoints is None else tuple(sorted({int(c) for c in checkpoints}))
        if self._checkpoint_arg and not all(1 <= c <= self.trained_epochs for c in self._checkpoint_arg):
            raise ModelError(
                f"checkpoints must be epochs between 1 and {self.trained_epochs}, not {list(self._checkpoint_arg)}"
            )
        self.initial_state = None
        self.weights_hash: str | None = None
        if initial_state is not None:
            self.initial_state = {k: v.detach().cpu() for k, v in initial_state.items()}
            self.weights_hash = state_hash(self.initial_state)
        self.code_path = None if code_path is None else Path(code_path)
        self.code_hash = None if self.code_path is None else _file_hash(self.code_path)
        self.name = name or f"{arch}-{mode}"
        self.batched = batched
        self.cache_dir = cache_dir
        self.cache = cache
        if threads is not None and int(threads) < 1:
            raise ModelError(f"threads must be at least 1, not {threads}")
        self.threads = None if threads is None else int(threads)
        self._builder: Callable[..., "nn.Module"] | None = None

    # --- the Recipe interface ------------------------------------------------------------

    @property
    def trained_epochs(self) -> int:
        """Epochs of the part that retrains: the network (full mode) or the head (head mode)."""
        return self.head_epochs if self.mode == "head" else self.epochs

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """Epochs recorded as members (of the network in full mode, of the head in head mode).

        Default: the last three epochs in full mode; the last epoch only in head mode, where
        a converged head's checkpoints are near copies of each other (their spread is a fifth
        of the spread over seeds on the digits demo), so members there come from seeds."""
        if self._checkpoint_arg:
            return self._checkpoint_arg
        if self.mode == "head":
            return (self.head_epochs,)
        return tuple(range(max(1, self.epochs - 2), self.epochs + 1))

    @property
    def chunk_size(self) -> int:  # type: ignore[override]
        if self.mode == "head":
            return 1024
        return 32 if self._batchable else 4

    @property
    def _batchable(self) -> bool:
        return self.batched and self.code_path is None and self.arch in VMAP_ARCHITECTURES

    def params(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "mode": self.mode,
            "head_epochs": self.head_epochs if self.mode == "head" else None,
            "checkpoints": list(self.checkpoints),
            "weights": self.weights_hash,
            "code": self.code_hash,
            "version": VERSION,
            "threads": self.threads,
        }

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """scikit-learn style constructor parameters (so a recipe can be copied with changes)."""
        return {
            "arch": self.arch, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
            "weight_decay": self.weight_decay, "mode": self.mode, "head_epochs": self.head_epochs,
            "checkpoints": self._checkpoint_arg,
            "initial_state": self.initial_state, "code_path": self.code_path, "name": self.name,
            "batched": self.batched, "cache_dir": self.cache_dir, "cache": self.cache, "threads": self.threads,
        }

    def set_params(self, **changes: Any) -> "TorchRecipe":
        """A new recipe with some constructor parameters changed (``epochs=...``, ``mode=...``).
        Changing ``epochs`` or ``mode`` without a ``name`` keeps the default name scheme."""
        params = self.get_params() | changes
        if "name" not in changes and self.name == f"{self.arch}-{self.mode}":
            params["name"] = None
        return TorchRecipe(**params)

    def with_options(self, epochs: int | None = None, mode: str | None = None, **changes: Any) -> "TorchRecipe":
        """This recipe with ``--epochs``/``--mode`` applied; ``None`` keeps the current value."""
        if epochs is not None:
            changes["epochs"] = epochs
        if mode is not None:
            changes["mode"] = mode
        return self.set_params(**changes) if changes else self

    def __repr__(self) -> str:
        return (
            f"TorchRecipe(arch={self.arch!r}, mode={self.mode!r}, epochs={self.epochs}, "
            f"head_epochs={self.head_epochs}, batch_size={self.batch_size}, "
            f"lr={self.lr}, weight_decay={self.weight_decay}, checkpoints={list(self.checkpoints)}, "
            f"weights={'uploaded' if self.weights_hash else 'none'})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_builder"] = None  # a function from an imported file does not pickle; re-import it
        return state

    # --- building networks ---------------------------------------------------------------

    def build(self, n_classes: int, input_shape: Sequence[int], seed: int = 0) -> "nn.Module":
        """The starting network for ``seed``: seeded initialisation, then the uploaded weights if any."""
        import torch

        if self.code_path is not None and self._builder is None:
            self._builder = _load_code(self.code_path)
        factory = self._builder or ARCHITECTURES[self.arch]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory(n_classes, tuple(input_shape))
        if not isinstance(model, torch.nn.Module):
            raise ModelError(f"{self.arch}: build_model must return a torch.nn.Module, not {type(model).__name__}")
        model = model.float()
        if self.initial_state is not None:
            check_state(model, self.initial_state, f"{self.arch} for {n_classes} classes and input {tuple(input_shape)}")
            model.load_state_dict(self.initial_state, strict=False)
        return model

    def _arrays(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Training and test inputs as float32 arrays (tables: the standard preprocessing,
        fitted once on the training features without labels)."""
        if data.kind == "tabular":
            prep = tabular_preprocessor().fit(data.X_train)
            return (
                np.asarray(prep.transform(data.X_train), dtype=np.float32),
                np.asarray(prep.transform(data.X_test), dtype=np.float32),
            )
        return np.asarray(data.X_train, dtype=np.float32), np.asarray(data.X_test, dtype=np.float32)

    # --- training ------------------------------------------------------------------------

    def fit_predict(self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test") -> np.ndarray:
        import torch

        X_np, X_test_np = self._arrays(data)
        edited = [apply_edit(data.y_train, np.ones(data.n_train), e) for e in edits]
        Y = torch.from_numpy(np.stack([y for y, _ in edited]).astype(np.int64))
        W = torch.from_numpy(np.stack([w for _, w in edited]).astype(np.float32))
        with _deterministic(self.threads):
            if self.mode == "head":
                F_train, F_test = self.features(data, seed)
                F_eval = F_test if eval_on == "test" else np.concatenate([F_train, F_test])
                out = train_heads(
                    torch.from_numpy(F_train), Y, W, torch.from_numpy(F_eval), data.n_classes, seed,
                    self.head_epochs, self.batch_size, self.lr, self.weight_decay, self.checkpoints,
                )
            else:
                X = torch.from_numpy(X_np)
                X_eval = torch.from_numpy(X_test_np if eval_on == "test" else np.concatenate([X_np, X_test_np]))
                model = self.build(data.n_classes, X_np.shape[1:], seed)
                if self._batchable:
                    out = self._train_stacked(model, X, Y, W, X_eval, seed)
                else:
                    out = np.stack([self._train_one(model, X, Y[b], W[b], X_eval, seed) for b in range(len(edits))])
        return np.ascontiguousarray(out, dtype=np.float32)

    def _train_one(
        self, start: "nn.Module", X: "torch.Tensor", y: "torch.Tensor", w: "torch.Tensor", X_eval: "torch.Tensor",
        seed: int,
    ) -> np.ndarray:
        """Train a copy of ``start`` on one edited training set; probabilities (members, n_eval, C)."""
        return self._fit(start, X, y, w, X_eval, seed)[1]

    def _fit(
        self, start: "nn.Module", X: "torch.Tensor", y: "torch.Tensor", w: "torch.Tensor", X_eval: "torch.Tensor",
        seed: int,
    ) -> tuple["nn.Module", np.ndarray]:
        """The one-at-a-time training loop: the trained network and its checkpoint probabilities."""
        import copy

        import torch
        import torch.nn.functional as F

        model = copy.deepcopy(start)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        snaps = []
        for epoch in range(1, self.epochs + 1):
            model.train()
            for idx in _batches(len(y), self.batch_size, generator):
                ce = F.cross_entropy(model(X[idx]), y[idx], reduction="none")
                loss = (w[idx] * ce).sum() / len(idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if epoch in self.checkpoints and len(X_eval):
                snaps.append(predict_proba(model, X_eval))
        return model, (np.stack(snaps) if snaps else np.zeros(0, dtype=np.float32))

    def _train_stacked(
        self, start: "nn.Module", X: "torch.Tensor", Y: "torch.Tensor", W: "torch.Tensor", X_eval: "torch.Tensor", seed: int
    ) -> np.ndarray:
        """Train B copies of ``start`` at once with ``torch.func``: parameters stacked along a new
        first dimension, ``vmap`` over them, one AdamW over the stacked tensors (AdamW is
        elementwise, so each slice follows exactly its own optimiser)."""
        import torch
        from torch.func import functional_call, vmap

        B = Y.shape[0]
        base = {k: v.detach() for k, v in start.named_parameters()}
        buffers = {k: v.detach() for k, v in start.named_buffers()}
        params = {k: v.unsqueeze(0).repeat(B, *([1] * v.dim())).requires_grad_(True) for k, v in base.items()}

        def forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(start, (p, buffers), (x,))

        batched = vmap(forward, in_dims=(0, None))
        optimizer = torch.optim.AdamW(list(params.values()), lr=self.lr, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        snaps = []
        start.train()
        for epoch in range(1, self.epochs + 1):
            for idx in _batches(Y.shape[1], self.batch_size, generator):
                logits = batched(params, X[idx])  # (B, m, C)
                ce = -torch.log_softmax(logits, dim=-1).gather(-1, Y[:, idx, None]).squeeze(-1)
                loss = (W[:, idx] * ce).sum() / len(idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if epoch in self.checkpoints:
                with torch.no_grad():
                    rows = max(1, EVAL_ROWS // B)
                    proba = torch.cat(
                        [torch.softmax(batched(params, X_eval[i : i + rows]), dim=-1) for i in range(0, len(X_eval), rows)],
                        dim=1,
                    )
                snaps.append(proba.numpy())
        return np.stack(snaps, axis=1)  # (B, members, n_eval, C)

    # --- head mode -----------------------------------------------------------------------

    def _feature_key(self, data: Dataset, seed: int) -> dict[str, Any]:
        """What the frozen features depend on: the data, the starting network and (with no
        upload) the seed and full-training parameters of the baseline network."""
        key = {"data": data.fingerprint, "arch": self.arch, "weights": self.weights_hash, "code": self.code_hash,
               "version": VERSION}
        if self.weights_hash is None:
            key |= {"seed": seed, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                    "weight_decay": self.weight_decay}
        return key

    def _start(self, data: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return frozen_start(self._feature_key(data, seed), data, self, seed)

    def features(self, data: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Frozen features (inputs of the last linear layer) of the training and test rows,
        computed once per key and cached on disk."""
        F_train, F_test, _, _ = self._start(data, seed)
        return F_train, F_test

    def starting_head(self, data: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The last linear layer of the starting network as (weight (D, C), bias (C,)),
        cached with the features."""
        _, _, weight, bias = self._start(data, seed)
        return weight, bias

    def starting_network(self, data: Dataset, seed: int) -> "nn.Module":
        """The network head mode takes its body from: the uploaded weights, or the baseline
        trained in full on the unedited data with ``seed``."""
        import torch

        X_np, _ = self._arrays(data)
        model = self.build(data.n_classes, X_np.shape[1:], seed)
        if self.weights_hash is not None:
            return model
        with _deterministic(self.threads):
            X = torch.from_numpy(X_np)
            y = torch.from_numpy(data.y_train.astype(np.int64))
            w = torch.ones(len(y))
            trained, _ = self._fit(model, X, y, w, X[:0], seed)
        return trained

    # --- estimates for candidate mode --------------------------------------------------

    estimate_method = "influence (last layer, damped Hessian)"
    #: The damping of the last layer's Hessian in the estimates; None gives plain gradient
    #: similarity instead (see :meth:`estimate_effects`).
    estimate_damping: float | None = 0.1

    def baseline_head(self, data: Dataset, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features (train, test) and the last layer (weight (D, C), bias (C,)) of the baseline
        model of ``seed``: in head mode the head trained on the unedited data; in full mode
        the starting network itself (with no upload, that is the seed's baseline network)."""
        import torch

        F_train, F_test, weight, bias = self._start(data, seed)
        if self.mode == "head":
            with _deterministic(self.threads):
                _, w, b = train_heads(
                    torch.from_numpy(F_train), torch.from_numpy(data.y_train.astype(np.int64)[None]),
                    torch.ones(1, data.n_train), torch.from_numpy(F_test[:0]), data.n_classes, seed,
                    self.head_epochs, self.batch_size, self.lr, self.weight_decay, (), return_weights=True,
                )
            weight, bias = w[0], b[0]
        return F_train, F_test, weight, bias

    def estimate_effects(
        self, data: Dataset, seed: int, action: str, new_labels: np.ndarray, test_indices: np.ndarray, y_pred: np.ndarray, metric: str
    ) -> np.ndarray:
        """Estimated change of the mean metric over ``test_indices`` for the action on each
        training sample alone, from the last linear layer of the seed's baseline model (the
        cached features of head mode; see :meth:`baseline_head`), without retraining.

        Per training sample i, the gradient of its cross-entropy w.r.t. the last layer (weight
        and bias) in closed form, ``g_i = outer([f_i, 1], p_i - onehot(y_i))``; ``g_metric`` is
        the gradient of the mean metric over the test samples w.r.t. the same layer. With
        ``d = (H + 0.1 I)^-1 g_metric`` (H: the Hessian of the mean training cross-entropy
        w.r.t. the layer), the estimate is remove ``+<d, g_i> / n``, upweight x10
        ``-9 <d, g_i> / n``, relabel ``-<d, g_i(new) - g_i(old)> / n``: the sign convention of a
        retrained delta (metric after - metric before). Other scales would not change the ranking.

        Why the damped Hessian and not plain gradient similarity (``estimate_damping=None``:
        ``d = g_metric`` and the scale ``head_epochs * lr / batch_size``, each sample's SGD step
        over training): Spearman correlation with the retrained effects of every training
        sample, head mode on the digits demo, two error groups x five (action, metric) pairs:
        300 images, 10 epochs: gradient similarity 0.22-0.47, damped Hessian 0.63-0.89;
        100 images, 5 epochs: 0.82-0.98 and 0.83-0.99. In full mode (100 images, 5 epochs)
        both are rough, 0.23-0.59, and damping 0.1 is no worse. A damping of 0.1 was best of
        0.001-1 in head mode; damping relative to the Hessian's mean eigenvalue did worse.
        """
        F_train, F_test, weight, bias = self.baseline_head(data, seed)
        tests = np.asarray(test_indices, dtype=np.int64)
        scale = self.trained_epochs * self.lr / self.batch_size  # used without damping only
        return last_layer_estimates(
            F_train, data.y_train, F_test[tests], data.y_test[tests], np.asarray(y_pred), weight, bias,
            action, new_labels, metric, scale, self.estimate_damping,
        )


# ---------------------------------------------------------------------------------------
# Uploaded models and the default recipe


def recipe_from_weights(
    path: str | Path,
    arch: str,
    n_classes: int,
    input_shape: Sequence[int],
    trust_code: bool = False,
    code: str | Path | None = None,
    **recipe_kwargs: Any,
) -> TorchRecipe:
    """A :class:`TorchRecipe` whose members all start from uploaded weights.

    ``path`` is a ``.safetensors`` file or a ``.pt``/``.pth`` state dict (loaded with
    ``weights_only=True``), checked against ``arch`` built for ``n_classes`` and
    ``input_shape`` (a :class:`ModelError` names the first layer that does not fit). A model
    definition (``path`` itself, or ``code``) is a ``.py`` file defining
    ``build_model(n_classes, input_shape)``; it runs code, so it is refused with
    :class:`UntrustedFileError` unless ``trust_code=True``. A ``.py`` ``path`` alone gives its
    architecture trained from the seed's initialisation. ``recipe_kwargs`` go to
    :class:`TorchRecipe` (``epochs``, ``mode``, ...).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    code_path = Path(code) if code is not None else (path if suffix in CODE_SUFFIXES else None)
    if suffix in PICKLE_SUFFIXES:
        raise UntrustedFileError(
            f"{path.name}: {suffix} files execute code when loaded and are not accepted for networks; "
            "save model.state_dict() as .safetensors (or .pt)"
        )
    if code_path is not None:
        if code_path.suffix.lower() not in CODE_SUFFIXES:
            raise ModelError(f"{code_path.name}: a model definition must be a .py file")
        if not trust_code:
            raise UntrustedFileError(
                f"{code_path.name}: a model definition runs its code when loaded; pass --trust-code "
                "(trust_code=True) only for files you trust"
            )
        if not code_path.is_file():
            raise ModelError(f"{code_path.name}: file not found")
    elif suffix not in WEIGHT_SUFFIXES:
        raise ModelError(f"{path.name}: unsupported model file {suffix or '(none)'}; give .safetensors, .pt or .pth weights")
    elif arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)} (--arch)")
    state = None
    if suffix in WEIGHT_SUFFIXES:
        if not path.is_file():
            raise ModelError(f"{path.name}: file not found")
        state = _read_state(path)
    label = arch if code_path is None else (arch or code_path.stem)
    recipe = TorchRecipe(
        arch=label, initial_state=state, code_path=code_path,
        name=recipe_kwargs.pop("name", None) or f"{label}-{path.stem}", **recipe_kwargs,
    )
    recipe.build(n_classes, tuple(input_shape))  # fails early, naming the layer, if the weights do not fit
    return recipe


def default_image_recipe(data: Dataset, epochs: int | None = None, mode: str = "full") -> TorchRecipe:
    """The default recipe for image data: ``small_cnn``, AdamW (lr 1e-3, weight decay 0.005),
    batch size 32, ``DEFAULT_IMAGE_EPOCHS`` epochs (``epochs`` overrides), the last three
    epochs as members. Seconds per model on a CPU for a few hundred 28x28 images."""
    if data.kind != "images":
        raise ModelError(f"the default image recipe needs image data, not {data.kind}")
    return TorchRecipe(arch="small_cnn", epochs=epochs or DEFAULT_IMAGE_EPOCHS, batch_size=32, mode=mode)
