"""PyTorch training recipes: a ``torch.nn.Module`` classifier trained by AdamW, many at once.

:class:`TorchRecipe` trains one network per :class:`~tda_core._actions.Edit` and seed:

* **Members** are independent seeds by default: a seed fixes the initialisation
  (``torch.manual_seed`` inside a forked RNG, so the global state is untouched) and the
  mini-batch order (a ``torch.Generator``), and each run gives one member, its final epoch.
  ``checkpoints=(8, 9, 10)`` gives the study's scheme instead: epochs of one run as members,
  labelled as such; the statistics then average them per run (:mod:`tda_core._stats`).
* **Edits.** Removal is weight 0 in place (``removal = "zero_weight"``, see
  :mod:`.training`), so every effect is a paired difference and upweighting x10 is exact.
  Networks with batch normalisation (the ResNets, ``mobilenet_v3_small``, ``efficientnet_b0``)
  still see a removed sample in the batch statistics; for them removal is exact only for the loss.
* **Modes.** ``mode="full"`` trains every parameter from the starting point (the uploaded
  weights, or the seed's random initialisation). ``mode="head"`` freezes the body of a
  starting network and retrains only its last ``nn.Linear`` layer on the body's features. The
  starting network (the uploaded weights, or the baseline trained in full on the unedited data
  with that seed) is the recipe's *start* (:meth:`TorchRecipe.fit_start`): the engine trains
  it once per seed as a work unit of its own, caches and counts it.
* **Batched exact training.** Head mode trains all edits of a call as stacked heads
  (:mod:`.heads`); full mode stacks ``small_cnn`` and ``mlp`` with ``torch.func``
  (:func:`.training.fit_stacked`), and networks with batch norm (the ResNets) when asked
  (``stack=N``: ``vmap`` over their buffers, each keeping its own running statistics); other
  architectures train one at a time (dropout never stacks). Batched and one-at-a-time training agree to float32 rounding (tested
  to 1e-5). For the large torchvision backbones head mode is the fast path: the backbone runs
  once per member to extract features (the start, cached by the engine; with uploaded weights
  the features do not depend on the seed and are extracted once per process), then every
  edit's head trains stacked on those features.
* **Device.** ``device="auto"`` (the default) trains, extracts features and evaluates on the
  GPU when torch sees one, else on the CPU; ``"cpu"`` and ``"cuda"`` force one. The device is
  not part of the cache key: initialisation and batch order come from CPU generators, so a seed
  means the same network and the same batches on any device, and results are paired and cached
  alike. Float results can differ between devices in the last bits (other kernels; on CUDA
  TF32 is off while training); training amplifies such differences over the epochs as it
  amplifies any rounding, so an effect cached on one device and recomputed on another agrees
  only to within the ensemble's noise.
* **Determinism.** On CPU the same seed gives identical probabilities
  (``torch.use_deterministic_algorithms`` is on while training, with ``threads`` torch threads,
  default 1; results are reproducible for a given thread count). On CUDA the deterministic
  kernels are chosen where they exist (cuBLAS with a fixed workspace, deterministic cuDNN).

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._actions import Action, Edit
from ..._exceptions import ModelError
from ..._metrics import Metric
from ...data._dataset import Dataset
from ...estimates._last_layer import last_layer_estimates
from .._base import EvalOn, Recipe, Start, edited_arrays
from .._preprocessing import tabular_preprocessor
from .._protocols import Estimates, HasStart, MeasuresTraining, TrainsNetworks
from ._heads import train_heads
from ._networks import (
    ARCHITECTURES,
    DROPOUT_ARCHITECTURES,
    VMAP_ARCHITECTURES,
    check_device,
    check_state,
    file_hash,
    fitting_architectures,
    last_linear,
    load_code,
    penultimate,
    resolve_device,
    state_hash,
)
from ._training import Optimisation, deterministic, fit_network, fit_stacked

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

DEFAULT_IMAGE_EPOCHS = 10
#: Networks trained stacked per unit of work at most (full mode, stackable architectures): per
#: network, 10 to 32 stacked train equally fast on a CPU (small_cnn, digits), 60 about 10 %
#: slower and 150 or 300 slower still (their activations outgrow the caches).
STACK = 32
MODES = ("full", "head")
#: Starts of uploaded weights, which do not depend on the seed: (recipe fingerprint, data
#: fingerprint, device) -> arrays. One entry, so that 3 seeds extract a large backbone's
#: features once.
_SEEDLESS_STARTS: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}


class TorchRecipe(Recipe, HasStart, Estimates, MeasuresTraining, TrainsNetworks):
    """A ``torch.nn.Module`` classifier trained by mini-batch AdamW (see the module docstring).

    ``arch`` names an entry of :data:`~.networks.ARCHITECTURES` (or describes ``code_path``, a
    trusted model definition with ``build_model(n_classes, input_shape)``). ``initial_state``
    is a state dict that every member starts from (uploaded weights). ``checkpoints`` are
    1-based epochs recorded as members of one run (None: one member per seed, the default).
    ``head_epochs`` is the head's training in head mode. ``batched`` only chooses how full-mode
    training runs, not what it computes. ``threads`` is the number of torch threads while
    training (default 1: these networks are too small to gain from more, and on a busy 2-core
    machine two threads spin-wait); probabilities are reproducible for a given thread count,
    so it keys the cache. ``device`` is ``"auto"`` (the GPU when there is one), ``"cpu"`` or
    ``"cuda"``; it does not key the cache (see the module docstring). ``stack`` is the number of
    networks full mode trains at once (None: :data:`STACK` for ``small_cnn`` and ``mlp``, one at
    a time for the others; networks with batch norm stack when asked, with ``vmap``, as memory
    allows on a GPU; networks with dropout never do).
    """

    removal = "zero_weight"
    estimate_method = "influence (last layer, damped Hessian)"
    version = 4  # 4: fused AdamW for networks, stacked forward written out; 3: features under the recipe's threads
    #: The damping of the last layer's Hessian in the estimates; None gives plain gradient
    #: similarity instead (see :meth:`estimate_effects`).
    estimate_damping: float | None = 0.1
    #: The uploaded weights and their hash (:meth:`_weights_hash`), once computed.
    _weights_memo: tuple[Mapping[str, Any], str] | None = None

    def __init__(
        self,
        arch: str = "small_cnn",
        *,
        epochs: int = DEFAULT_IMAGE_EPOCHS,
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
        threads: int | None = 1,
        device: str = "auto",
        stack: int | None = None,
    ):
        self.arch = arch
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.mode = mode
        self.head_epochs = head_epochs
        self.checkpoints = checkpoints
        self.initial_state = initial_state
        self.code_path = code_path
        self.name = name
        self.batched = batched
        self.threads = threads
        self.device = device
        self.stack = stack

    # --- the Recipe interface ------------------------------------------------------------

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        scheme = "" if self.checkpoints is None else ", checkpoints of one run"
        return f"{self.arch}-{self.mode}{scheme}"

    @property
    def trained_epochs(self) -> int:
        """Epochs of the part that retrains: the network (full mode) or the head (head mode)."""
        return int(self.head_epochs if self.mode == "head" else self.epochs)

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        return () if self.checkpoints is None else tuple(sorted({int(c) for c in self.checkpoints}))

    @property
    def recorded_epochs(self) -> tuple[int, ...]:
        """The epochs whose predictions are kept: the checkpoints, or the final epoch."""
        return self.checkpoint_epochs or (self.trained_epochs,)

    @property
    def chunk_size(self) -> int:
        if self.mode == "head":
            return 1024
        return self._stack if self._batchable else 4

    def chunk_for(self, data: Dataset) -> int:
        """Edits per unit: :attr:`chunk_size` at most, the edits of a ranking cut into near-equal
        units (300 training samples: 10 units of 30, not 9 of 32 and one of 12), so that no unit
        trains a small stack at a large stack's fixed cost per step."""
        size, n = self.chunk_size, data.n_train
        return math.ceil(n / math.ceil(n / size)) if n > size else size

    @property
    def _stack(self) -> int:
        """Networks full mode trains at once: ``stack``, else :data:`STACK` for the architectures
        without batch norm or dropout and 1 (one at a time) for the others."""
        if self.stack is not None:
            return int(self.stack)
        return STACK if self.arch in VMAP_ARCHITECTURES else 1

    @property
    def _batchable(self) -> bool:
        """Whether full mode trains stacked (:func:`.training.fit_stacked`): a registered
        architecture without dropout, more than one network at a time, and ``batched``."""
        return (bool(self.batched) and self.code_path is None and self.arch not in DROPOUT_ARCHITECTURES
                and self._stack > 1)

    @property
    def _optimisation(self) -> Optimisation:
        return Optimisation(int(self.epochs), int(self.batch_size), float(self.lr), float(self.weight_decay))

    def validate(self, data: Dataset) -> None:
        if self.mode not in MODES:
            raise ModelError(f"unknown mode {self.mode!r}: choose full or head")
        if self.code_path is None and self.arch not in ARCHITECTURES:
            raise ModelError(f"unknown architecture {self.arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        for name, value in (("epochs", self.epochs), ("batch size", self.batch_size), ("head epochs", self.head_epochs)):
            if int(value) < 1:
                raise ModelError(f"{name} must be at least 1, not {value}")
        if self.threads is not None and int(self.threads) < 1:
            raise ModelError(f"threads must be at least 1, not {self.threads}")
        if self.stack is not None and int(self.stack) < 1:
            raise ModelError(f"stack must be at least 1 network, not {self.stack}")
        check_device(self.device)
        arch = ARCHITECTURES.get(self.arch) if self.code_path is None else None
        if arch is not None and arch.torchvision:
            shape: tuple[int, ...] = tuple(np.shape(data.X_train)[1:]) if data.kind == "images" else ()
            if len(shape) != 3 or shape[0] != 3:
                what = f"images with {shape[0]} channel{'s' if shape[0] != 1 else ''}" if len(shape) == 3 else f"{data.kind} data"
                raise ModelError(
                    f"{self.arch} takes RGB images (3 channels), not {what}: load the images for {self.arch} "
                    f"({arch.input.describe(3)}; the size may be changed)"
                )
        epochs = self.checkpoint_epochs
        if self.checkpoints is not None and (not epochs or not all(1 <= c <= self.trained_epochs for c in epochs)):
            raise ModelError(f"checkpoints must be epochs between 1 and {self.trained_epochs}, not {list(epochs)}")

    def _fingerprint_params(self) -> Any:
        params = {
            k: v for k, v in self.get_params(deep=False).items() if k not in ("name", "initial_state", "code_path", "device")
        }
        params["head_epochs"] = params["head_epochs"] if self.mode == "head" else None
        params["checkpoints"] = self.checkpoint_epochs
        return params | {"weights": self._weights_hash(), "code": self._code_hash()}

    def _weights_hash(self) -> str | None:
        """The hash of the uploaded weights, computed once per state object (the engine asks for
        the fingerprint a few dozen times a request; a ResNet-50 takes 0.1 s to hash). A new
        state (set_params, clone) is hashed again; the state is never changed in place here."""
        if self.initial_state is None:
            return None
        memo = self._weights_memo
        if memo is None or memo[0] is not self.initial_state:
            memo = (self.initial_state, state_hash(self.initial_state))
            self._weights_memo = memo
        return memo[1]

    def _code_hash(self) -> str | None:
        return None if self.code_path is None else file_hash(Path(self.code_path))

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"weights": "uploaded" if self.initial_state is not None else None}

    # --- building networks ---------------------------------------------------------------

    @property
    def torch_device(self) -> torch.device:
        """The device the recipe runs on (``auto`` resolved)."""
        return resolve_device(self.device)

    def build(self, n_classes: int, input_shape: Sequence[int], seed: int = 0) -> nn.Module:
        """The starting network for ``seed``: seeded initialisation, then the uploaded weights if any."""
        import torch

        factory = load_code(Path(self.code_path)) if self.code_path is not None else ARCHITECTURES[self.arch]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory(n_classes, tuple(input_shape))
        if not isinstance(model, torch.nn.Module):
            raise ModelError(f"{self.arch}: build_model must return a torch.nn.Module, not {type(model).__name__}")
        model = model.float()
        if self.initial_state is not None:
            try:
                check_state(model, self.initial_state, f"{self.arch} for {n_classes} classes and input {tuple(input_shape)}")
            except ModelError as exc:
                fits = [] if self.code_path is not None else fitting_architectures(self.initial_state, n_classes, input_shape)
                if not fits:
                    raise
                raise ModelError(f"{exc}; these weights fit {' and '.join(fits)}: choose that architecture") from exc
            model.load_state_dict(dict(self.initial_state), strict=False)
        return model

    def training_bytes(self, data: Dataset) -> int:
        """Bytes one unit's training holds, measured before anything trains: the network's
        parameters, gradients and AdamW's two states, and the activations autograd saves for the
        backward pass of one mini-batch (read off one forward pass through
        ``saved_tensors_hooks``), for every network a unit trains at once. Head mode trains linear
        heads on frozen features: the feature network's forward pass is what it holds.

        The forward pass runs on PyTorch's ``meta`` device, which computes shapes and allocates
        nothing: measuring must not take the memory it guards (a batch of 32 images of 640 px
        through resnet18 on the CPU held several GB just to be measured). An operation without a
        meta kernel falls back to one image on the CPU, scaled to the batch."""

        X_train, _ = self.arrays(data)
        model = self.build(data.n_classes, X_train.shape[1:], 0)
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        rows = min(int(self.batch_size), max(1, data.n_train))
        try:
            return self._training_bytes(model.to("meta"), "meta", rows, X_train.shape[1:], params, 1)
        except (NotImplementedError, RuntimeError):
            model = self.build(data.n_classes, X_train.shape[1:], 0)
            return self._training_bytes(model, "cpu", 1, X_train.shape[1:], params, rows)

    def _training_bytes(self, model: Any, device: str, rows: int, shape: tuple[int, ...], params: int, scale: int) -> int:
        """:meth:`training_bytes` from one forward pass of ``rows`` inputs on ``device``, its
        activations multiplied by ``scale``."""
        import torch

        saved = [0]

        def pack(t: torch.Tensor) -> torch.Tensor:
            saved[0] += t.numel() * t.element_size()
            return t

        batch = torch.zeros((rows, *shape), dtype=torch.float32, device=device)
        if self.mode == "head":  # features under no_grad: the largest activation (and its input) at a time
            largest = [0]

            def keep(module: torch.nn.Module, inputs: Any, output: Any) -> None:
                if isinstance(output, torch.Tensor):
                    largest[0] = max(largest[0], output.numel() * output.element_size())

            handles = [m.register_forward_hook(keep) for m in model.modules()]
            with torch.no_grad():
                model(batch)
            for h in handles:
                h.remove()
            return int(params + 3 * largest[0] * scale)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(batch)  # the forward pass saves what the backward pass will read
        stacked = self._stack if self._batchable else 1
        return int(stacked * (4 * params + 2 * saved[0] * scale))  # 2x: the saved tensors and their gradients

    @staticmethod
    def arrays(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Training and test inputs as float32 arrays (tables: the standard preprocessing,
        fitted once on the training features without labels)."""
        if data.kind == "tabular":
            prep = tabular_preprocessor().fit(data.X_train)
            return (
                np.asarray(prep.transform(data.X_train), dtype=np.float32),
                np.asarray(prep.transform(data.X_test), dtype=np.float32),
            )
        return np.asarray(data.X_train, dtype=np.float32), np.asarray(data.X_test, dtype=np.float32)

    @staticmethod
    def pool_inputs(data: Dataset) -> np.ndarray:
        """The pool's inputs as :meth:`arrays` prepares the training rows (callers check ``data.has_pool``)."""
        if data.kind == "tabular":
            return np.asarray(tabular_preprocessor().fit(data.X_train).transform(data.X_pool), dtype=np.float32)
        return np.asarray(data.X_pool, dtype=np.float32)

    # --- the start: the network head mode, estimates and candidate groups build on --------

    def trains_from_start(self) -> bool:
        """Head mode trains heads on the start's features; full mode trains from the initialisation."""
        return self.mode == "head"

    def start_seed(self, seed: int) -> int:
        return seed  # the seed's own network (uploaded weights: the same features, extracted once per process)

    def start_models(self) -> int:
        """One network trained, or none where the start is read off uploaded weights."""
        return int(self.initial_state is None)

    def start_shapes(self, data: Dataset) -> dict[str, tuple[int | None, ...] | None]:
        pool: dict[str, tuple[int | None, ...] | None] = {"F_pool": (data.n_pool, None)} if data.has_pool else {}
        return {
            "F_train": (data.n_train, None), "F_test": (data.n_test, None),
            "weight": (None, data.n_classes), "bias": (data.n_classes,),
        } | pool

    def baseline_network(self, data: Dataset, seed: int) -> nn.Module:
        """The seed's network trained in full on the unedited data, from its starting point (the
        seeded initialisation, then any uploaded weights), on the recipe's device. One model:
        callers run it as engine work."""
        import torch

        device = self.torch_device
        X_np = self.arrays(data)[0]
        model = self.build(data.n_classes, X_np.shape[1:], seed).to(device)
        with deterministic(self.threads, device):
            X = torch.from_numpy(X_np).to(device)
            y = torch.from_numpy(data.y_train.astype(np.int64)).to(device)
            model, _ = fit_network(model, X, y, torch.ones(len(y), device=device), X[:0], seed, self._optimisation, ())
        return model

    def starting_network(self, data: Dataset, seed: int) -> nn.Module:
        """The network head mode takes its body from: the uploaded weights as they are, or the
        seed's baseline network."""
        if self.initial_state is None:
            return self.baseline_network(data, seed)
        return self.build(data.n_classes, self.arrays(data)[0].shape[1:], seed).to(self.torch_device)

    def fit_start(self, data: Dataset, seed: int) -> dict[str, np.ndarray]:
        """The starting network's features of the training and test rows (``F_train``,
        ``F_test``) and its last layer (``weight`` (D, C), ``bias`` (C,)). The starting network
        is the uploaded one, or the baseline trained in full on the unedited data with ``seed``.

        Uploaded weights (of a registered architecture) give the same start for every seed:
        the features are extracted once and reused for the other seeds in this process."""

        self.validate(data)
        device = self.torch_device
        memo_key = None
        if self.initial_state is not None and self.code_path is None:
            memo_key = (self.fingerprint(), data.fingerprint, str(device))
            if memo_key in _SEEDLESS_STARTS:
                return {k: v.copy() for k, v in _SEEDLESS_STARTS[memo_key].items()}
        X_np, X_test_np = self.arrays(data)
        model = self.starting_network(data, seed)
        with deterministic(self.threads, device):
            F_train, F_test = penultimate(model, X_np, device=device), penultimate(model, X_test_np, device=device)
            pool = {"F_pool": penultimate(model, self.pool_inputs(data), device=device)} if data.has_pool else {}
        _, head = last_linear(model)
        weight = head.weight.detach().t().cpu().numpy().astype(np.float32)
        bias = head.bias.detach().cpu().numpy() if head.bias is not None else np.zeros(head.out_features)
        start = {
            "F_train": F_train,
            "F_test": F_test,
            "weight": np.ascontiguousarray(weight),
            "bias": np.asarray(bias, dtype=np.float32),
        } | pool
        if memo_key is not None:
            _SEEDLESS_STARTS.clear()  # one entry: the features of one large dataset at most
            _SEEDLESS_STARTS[memo_key] = {k: v.copy() for k, v in start.items()}
        return start

    # --- training ------------------------------------------------------------------------

    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        import torch

        self.validate(data)
        Y_np, W_np = edited_arrays(data, edits)
        device = self.torch_device
        Y = torch.from_numpy(Y_np.astype(np.int64)).to(device)
        W = torch.from_numpy(W_np.astype(np.float32)).to(device)
        record = self.recorded_epochs
        with deterministic(self.threads, device):
            if self.mode == "head":
                if start is None:
                    raise ModelError("head mode needs the start network's features (the engine supplies them)")
                F_train, F_test = np.asarray(start["F_train"]), np.asarray(start["F_test"])
                F_eval = F_test if eval_on == "test" else np.concatenate([F_train, F_test])
                F_fit = np.concatenate([F_train, np.asarray(start["F_pool"])]) if data.has_pool else F_train
                out = train_heads(
                    torch.from_numpy(F_fit).to(device), Y, W, torch.from_numpy(F_eval), data.n_classes, seed,
                    int(self.head_epochs), int(self.batch_size), float(self.lr), float(self.weight_decay), record,
                    n_train=data.n_train,
                )
            else:
                X_np, X_test_np = self.arrays(data)
                X_fit = np.concatenate([X_np, self.pool_inputs(data)]) if data.has_pool else X_np
                X = torch.from_numpy(X_fit).to(device)
                X_eval = torch.from_numpy(X_test_np if eval_on == "test" else np.concatenate([X_np, X_test_np])).to(device)
                model = self.build(data.n_classes, X_np.shape[1:], seed).to(device)
                opt, n = self._optimisation, data.n_train
                if self._batchable:
                    out = fit_stacked(model, X, Y, W, X_eval, seed, opt, record, n)
                else:
                    out = np.stack([fit_network(model, X, Y[b], W[b], X_eval, seed, opt, record, n)[1] for b in range(len(edits))])
        return np.ascontiguousarray(out, dtype=np.float32)

    # --- estimates and representation ----------------------------------------------------

    def representation(self, data: Dataset, seed: int, start: Start | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The penultimate features of the seed's starting network (the engine supplies them)."""
        if start is None:
            raise ModelError("the representation of a network needs its start (the engine supplies it)")
        return np.asarray(start["F_train"], np.float64), np.asarray(start["F_test"], np.float64)

    def pool_representation(self, data: Dataset, seed: int, start: Start | None = None) -> np.ndarray:
        """The penultimate features of the pool rows under the seed's starting network."""
        if start is None or "F_pool" not in start:
            raise ModelError("the representation of a network's pool needs its start (the engine supplies it)")
        return np.asarray(start["F_pool"], np.float64)

    def estimate_effects(
        self,
        data: Dataset,
        seed: int,
        action: Action,
        new_labels: np.ndarray,
        test_indices: np.ndarray,
        y_pred: np.ndarray,
        metric: Metric,
        start: Start | None = None,
    ) -> np.ndarray:
        """Estimated change of the mean metric over ``test_indices`` for the action on each
        training sample alone, from the last linear layer of the seed's baseline model, without
        retraining: in head mode the head trained on the unedited data (trained here, one model),
        in full mode the starting network itself.

        Per training sample i, the gradient of its cross-entropy w.r.t. the last layer (weight
        and bias) in closed form, ``g_i = outer([f_i, 1], p_i - onehot(y_i))``; ``g_metric`` is
        the gradient of the mean metric over the test samples w.r.t. the same layer. With
        ``d = (H + 0.1 I)^-1 g_metric`` (H: the Hessian of the mean training cross-entropy
        w.r.t. the layer), the estimate for an action is the sum of its gradient terms
        (:attr:`tda_core._actions.Action.gradient_terms`) dotted with ``d``, divided by n: the sign
        convention of a retrained delta (metric after - metric before).

        Why the damped Hessian and not plain gradient similarity (``estimate_damping=None``):
        Spearman correlation with the retrained effects of every training sample, head mode on
        the digits demo, two error groups x five (action, metric) pairs: 300 images, 10 epochs:
        gradient similarity 0.22-0.47, damped Hessian 0.63-0.89; 100 images, 5 epochs:
        0.82-0.98 and 0.83-0.99. In full mode (100 images, 5 epochs) both are rough, 0.23-0.59.
        A damping of 0.1 was best of 0.001-1 in head mode.
        """
        import torch

        if start is None:
            raise ModelError("estimates for a network need its start (the engine supplies it)")
        F_train, F_test = np.asarray(start["F_train"]), np.asarray(start["F_test"])
        weight, bias = np.asarray(start["weight"]), np.asarray(start["bias"])
        if self.mode == "head":
            device = self.torch_device
            with deterministic(self.threads, device):
                _, w, b = train_heads(
                    torch.from_numpy(F_train).to(device), torch.from_numpy(data.y_train.astype(np.int64)[None]),
                    torch.ones(1, data.n_train), torch.from_numpy(F_test[:0]), data.n_classes, seed,
                    int(self.head_epochs), int(self.batch_size), float(self.lr), float(self.weight_decay), (),
                    return_weights=True,
                )
            weight, bias = w[0], b[0]
        tests = np.asarray(test_indices, dtype=np.int64)
        scale = self.trained_epochs * float(self.lr) / int(self.batch_size)  # used without damping only
        rows = (np.asarray(start["F_pool"]), data.y_pool) if action.on_pool else (None, None)
        return last_layer_estimates(
            F_train, data.y_train, F_test[tests], data.y_test[tests], np.asarray(y_pred), weight, bias,
            action, new_labels, metric, scale, self.estimate_damping, *rows,
        )

    def estimate_models(self) -> int:
        """The baseline head in head mode; full mode reads the start network's last layer."""
        return int(self.mode == "head")


def default_image_recipe(epochs: int | None = None, mode: str = "full") -> TorchRecipe:
    """The default recipe for image data: ``small_cnn``, AdamW (lr 1e-3, weight decay 0.005),
    batch size 32, ``DEFAULT_IMAGE_EPOCHS`` epochs (``epochs`` overrides), independent seeds
    as members. Seconds per model on a CPU for a few hundred 28x28 images."""
    return TorchRecipe("small_cnn", epochs=epochs or DEFAULT_IMAGE_EPOCHS, batch_size=32, mode=mode)
