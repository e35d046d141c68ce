"""Exact optima of L2-regularised logistic regression for many edited training sets at once.

The objective of one model is scikit-learn's ``LogisticRegression(C)`` without a separate
intercept (the design's last column is the bias), written as a mean over the ``n`` training rows:

    F(theta) = (1/n) sum_i w_i CE(y_i, softmax(x_i theta)) + lam/2 |theta|^2,   lam = 1 / (C n).

Two classes use one weight vector and the sigmoid, as scikit-learn does; more classes one column
per class. ``n`` stays the training set's size for every edit, so removal is weight 0 in place.

A counterfactual is a small edit of the baseline's training set, so its optimum lies close to the
baseline's. Each one starts there and iterates ``theta <- theta - H0^-1 g(theta)``: Newton's step
with the baseline Hessian, factored once and shared by every edit (the chord method). Its rate is
how much the edit changes the Hessian, a few iterations to a gradient of 1e-10 for one row, and
one iteration is two sparse products for all the stacked models. An edit that has not converged
after :data:`CHORD_STEPS` continues with its own Hessian (Newton's method, with a line search).
The result is the optimum itself, to the tolerance: the same model as a cold refit.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special

from ..estimates._influence import hessian as influence_hessian

#: Rows whose logits exist at once for all stacked models (bounds a unit's memory).
BLOCK_ROWS = 8192
#: Chord iterations (the baseline's Hessian) before an edit switches to its own Hessian.
CHORD_STEPS = 30
#: Newton iterations with the edit's own Hessian before giving up.
NEWTON_STEPS = 50


def columns(n_classes: int) -> int:
    """Weight columns of the model: one for two classes (the sigmoid), else one per class."""
    return 1 if n_classes == 2 else n_classes


def _probabilities(z: np.ndarray, k: int) -> np.ndarray:
    """In place: the sigmoid of logits (N, 1, B) for k == 1, else the softmax over axis 1."""
    if k == 1:
        np.negative(z, out=z)
        with np.errstate(over="ignore"):
            np.exp(z, out=z)
        z += 1.0
        np.reciprocal(z, out=z)
        return z
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _targets(labels: np.ndarray, k: int) -> np.ndarray:
    """One-hot targets (N, k, B) of labels (B, N); for k == 1 the indicator of class 1."""
    if k == 1:
        return (labels.T == 1)[:, None, :]
    return labels.T[:, None, :] == np.arange(k)[None, :, None]


def gradients(X: Any, Y: np.ndarray, W: np.ndarray, theta: np.ndarray, n: int, lam: float) -> np.ndarray:
    """Gradients (D, k, B) of every model's objective at ``theta`` (D, k, B); ``Y``/``W`` (B, N)
    are each model's labels and weights over the rows of ``X`` (N, D), a block of rows at a time."""
    d, k, b = theta.shape
    flat = theta.reshape(d, k * b)
    grad = np.zeros((d, k * b))
    for first in range(0, X.shape[0], BLOCK_ROWS):
        rows = slice(first, min(first + BLOCK_ROWS, X.shape[0]))
        xb = X[rows]
        r = _probabilities(np.asarray(xb @ flat).reshape(-1, k, b), k)
        r -= _targets(Y[:, rows], k)
        r *= W[:, rows].T[:, None, :]
        grad += np.asarray(xb.T @ r.reshape(-1, k * b))
    grad /= n
    return grad.reshape(d, k, b) + lam * theta


def hessian(X: Any, y: np.ndarray, w: np.ndarray, theta: np.ndarray, n: int, lam: float) -> np.ndarray:
    """The objective's Hessian (D*k, D*k) at ``theta`` (D, k) for one model (index ``d * k + c``,
    as ``theta.reshape(-1)``), from BLAS or sparse products."""
    k = theta.shape[1]
    p = _probabilities(np.asarray(X @ theta)[:, :, None], k)[:, :, 0]
    return influence_hessian(X, p, np.asarray(w, dtype=np.float64), lam, n)


def objective(X: Any, y: np.ndarray, w: np.ndarray, theta: np.ndarray, n: int, lam: float) -> float:
    """F(theta) of one model (for the line search)."""
    k = theta.shape[1]
    z = np.asarray(X @ theta)
    if k == 1:
        z = z[:, 0]
        loss = np.logaddexp(0.0, z) - z * (y == 1)  # -log sigmoid(+-z)
    else:
        loss = scipy.special.logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return float(w @ loss / n + lam / 2 * np.sum(theta * theta))


def _newton(X: Any, y: np.ndarray, w: np.ndarray, theta: np.ndarray, n: int, lam: float, tol: float) -> tuple[np.ndarray, bool]:
    """Newton's method with a backtracking line search, from ``theta``. A factored Hessian is kept
    while it serves: near the optimum, where a solver's answer starts, one Hessian gives every step
    (each one builds the Hessian anew on census: 1.4 s, against 0.06 s for a gradient). It is
    refactored at the current point after a step the line search shortened, or after two steps in a
    row that did not halve the gradient."""
    d, k = theta.shape
    factor, slow, previous, t = None, 0, np.inf, 1.0
    for _ in range(NEWTON_STEPS):
        g = gradients(X, y[None], w[None], theta[:, :, None], n, lam)[:, :, 0]
        size = float(np.abs(g).max())
        if size <= tol:
            return theta, True
        slow = slow + 1 if size > previous / 2 else 0
        if factor is None or t < 1.0 or slow >= 2:
            factor, slow = scipy.linalg.cho_factor(hessian(X, y, w, theta, n, lam)), 0
        previous = size
        step = scipy.linalg.cho_solve(factor, g.reshape(-1)).reshape(d, k)
        f0, t = objective(X, y, w, theta, n, lam), 1.0
        while t > 1e-8 and objective(X, y, w, theta - t * step, n, lam) > f0 - 1e-4 * t * float(g.reshape(-1) @ step.reshape(-1)):
            t /= 2
        theta = theta - t * step
    g = gradients(X, y[None], w[None], theta[:, :, None], n, lam)[:, :, 0]
    return theta, bool(np.abs(g).max() <= tol)


def polish(X: Any, y: np.ndarray, w: np.ndarray, theta: np.ndarray, n: int, lam: float, tol: float) -> np.ndarray:
    """The optimum of one model (D, k), by Newton's method from ``theta`` (a solver's answer)."""
    theta, converged = _newton(X, y, w, np.array(theta, dtype=np.float64), n, lam, tol)
    if not converged:
        raise ArithmeticError(f"Newton's method did not reach a gradient of {tol:g} in {NEWTON_STEPS} steps")
    return theta


def warm_optima(
    X: Any, Y: np.ndarray, W: np.ndarray, base: np.ndarray, base_y: np.ndarray, base_w: np.ndarray, n: int, lam: float, tol: float
) -> tuple[np.ndarray, int]:
    """The optima (D, k, B) of the models ``Y``/``W`` (B, N), each started at the baseline optimum
    ``base`` (D, k) of ``base_y``/``base_w``: chord steps with the baseline Hessian, then Newton's
    method for an edit that needs it. Also returns the number of chord iterations run."""
    d, k = base.shape
    b = Y.shape[0]
    factor = None  # formed only when some edit moves the optimum (not for the baseline itself)
    theta = np.repeat(base[:, :, None], b, axis=2)
    active = np.arange(b)
    steps = 0
    while len(active) and steps < CHORD_STEPS:
        g = gradients(X, Y[active], W[active], theta[:, :, active], n, lam)
        done = np.abs(g).reshape(d * k, -1).max(axis=0) <= tol
        active, g = active[~done], g[:, :, ~done]
        if not len(active):
            break
        factor = factor or _baseline_factor(X, base_y, base_w, base, n, lam)
        theta[:, :, active] -= scipy.linalg.cho_solve(factor, g.reshape(d * k, -1)).reshape(d, k, -1)
        steps += 1
    for j in active:  # rare: an edit that moves the optimum far (a large group)
        theta[:, :, j], converged = _newton(X, Y[j], W[j].astype(np.float64), theta[:, :, j], n, lam, tol)
        if not converged:
            raise ArithmeticError(f"Newton's method did not reach a gradient of {tol:g} in {NEWTON_STEPS} steps")
    return theta, steps


#: Factored baseline Hessians kept in this process: (design, digest of the model) -> factor. A
#: ranking's units, its group effect and the next group's all start at the same baseline.
_FACTORS: list[tuple[Any, str, Any]] = []
KEEP_FACTORS = 2


def _baseline_factor(X: Any, y: np.ndarray, w: np.ndarray, theta: np.ndarray, n: int, lam: float) -> Any:
    """The Cholesky factor of the baseline's Hessian, formed once per process and baseline."""
    digest = hashlib.blake2b(b"".join(np.ascontiguousarray(a).tobytes() for a in (theta, y, w, np.array([n, lam]))),
                             digest_size=16).hexdigest()
    for kept, key, factor in _FACTORS:
        if kept is X and key == digest:  # the design itself is held, so its identity is never reused
            return factor
    factor = scipy.linalg.cho_factor(hessian(X, y, w, theta, n, lam))
    _FACTORS[:] = [(X, digest, factor), *_FACTORS[: KEEP_FACTORS - 1]]
    return factor


def softmax_weights(theta: np.ndarray) -> np.ndarray:
    """Weights (D, C, ...) whose softmax gives the model's probabilities: for the sigmoid's one
    vector v, (-v/2, v/2), the symmetric form the influence estimates' Hessian expects."""
    if theta.shape[1] != 1:
        return theta
    return np.concatenate([-theta / 2, theta / 2], axis=1)
