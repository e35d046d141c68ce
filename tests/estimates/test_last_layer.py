"""Last-layer estimates for networks: the damped version is the influence function of the layer
(conjugate gradients equal the direct solve), the undamped one is gradient similarity."""

from __future__ import annotations

import numpy as np
import pytest

from tda_core._actions import ACTIONS
from tda_core._metrics import METRICS
from tda_core.estimates import _influence as influence
from tda_core.estimates._influence import influence_estimates, softmax_rows, solve_hessian
from tda_core.estimates._last_layer import last_layer_estimates


def layer_problem(seed: int = 0, n: int = 40, d: int = 5, c: int = 3, t: int = 6):
    rng = np.random.default_rng(seed)
    F, Ft = rng.normal(size=(n, d)), rng.normal(size=(t, d))
    y, y_true, y_pred = rng.integers(0, c, n), rng.integers(0, c, t), rng.integers(0, c, t)
    return F, Ft, y, y_true, y_pred, (y + 1) % c, rng.normal(size=(d, c)), rng.normal(size=c)


def with_ones(A):
    return np.hstack([A, np.ones((len(A), 1))])


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("metric", list(METRICS))
def test_damped_estimate_is_the_influence_function_of_the_layer(action, metric):
    """With damping a, the estimate equals the influence estimate on [features, 1] with L2 a."""
    F, Ft, y, y_true, y_pred, new, W, b = layer_problem()
    act, met = ACTIONS[action], METRICS[metric]
    ours = last_layer_estimates(F, y, Ft, y_true, y_pred, W, b, act, new, met, scale=1.0, damping=0.1)
    theirs = influence_estimates(with_ones(F), y, np.vstack([W, b]), 0.1, act, new, with_ones(Ft), y_true, y_pred, met)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    assert np.abs(ours).max() > 1e-4


@pytest.mark.parametrize("direct_up_to", [0, influence.DIRECT_SOLVE])
def test_conjugate_gradients_equal_the_direct_solve(direct_up_to, monkeypatch):
    """scipy's conjugate gradients (every size, with DIRECT_SOLVE 0) and the formed Hessian both
    give (H + damping I)^-1 g, against a Hessian built by brute force."""
    monkeypatch.setattr(influence, "DIRECT_SOLVE", direct_up_to)
    F, _, _, _, _, _, W, b = layer_problem(seed=2, n=60, d=8, c=4)
    X = with_ones(F)
    theta = np.vstack([W, b])
    proba = softmax_rows(X @ theta)
    g = np.random.default_rng(5).normal(size=theta.shape)
    d, c = theta.shape
    curvature = proba[:, :, None] * (np.eye(c)[None] - proba[:, None, :])
    H = np.einsum("ni,nj,nab->iajb", X, X, curvature).reshape(d * c, d * c) / len(X)
    for damping in (1e-3, 0.1, 1.0):
        direct = np.linalg.solve(H + damping * np.eye(d * c), g.ravel()).reshape(d, c)
        np.testing.assert_allclose(solve_hessian(X, proba, damping, g), direct, rtol=1e-8, atol=1e-10)


def test_gradient_similarity_matches_finite_differences():
    """Without damping: scale * <grad of the mean test metric, -(change of sample i's loss gradient)>,
    both gradients w.r.t. the layer (weight and bias), taken here by finite differences."""
    F, Ft, y, y_true, _, _, W, b = layer_problem(seed=1, n=12, d=4, c=3, t=5)
    est = last_layer_estimates(F, y, Ft, y_true, y_true, W, b, ACTIONS["remove"], None, METRICS["loss"], scale=0.5, damping=None)
    d, c = W.shape

    def mean_ce(theta_flat, A, labels):
        theta = theta_flat.reshape(d + 1, c)
        p = softmax_rows(with_ones(A) @ theta)
        return -np.log(p[np.arange(len(A)), labels]).mean()

    def grad(A, labels):
        theta = np.vstack([W, b]).ravel()
        h = 1e-6
        return np.array([(mean_ce(theta + h * e, A, labels) - mean_ce(theta - h * e, A, labels)) / (2 * h) for e in np.eye(theta.size)])

    g_metric = grad(Ft, y_true)
    # Removing sample i changes the training gradient by -grad l_i: the estimate is scale * <g_metric, grad l_i>.
    expected = [0.5 * float(g_metric @ grad(F[i : i + 1], y[i : i + 1])) for i in range(len(F))]
    np.testing.assert_allclose(est, expected, rtol=1e-6, atol=1e-10)


def test_the_estimate_is_linear_in_the_action():
    """Upweighting x10 adds 9 copies of the sample's gradient, removal takes one away."""
    F, Ft, y, y_true, y_pred, _, W, b = layer_problem(seed=3)
    args = (F, y, Ft, y_true, y_pred, W, b)
    remove = last_layer_estimates(*args, ACTIONS["remove"], None, METRICS["gt_prob"], 1.0, 0.1)
    upweight = last_layer_estimates(*args, ACTIONS["upweight"], None, METRICS["gt_prob"], 1.0, 0.1)
    np.testing.assert_allclose(upweight, -9 * remove, rtol=1e-10)
