"""Feature attribution beside training data attribution, against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._feature_attribution import GRADIENT, LINEAR, OCCLUSION, REGIONS, column_owners, feature_attribution, sentence
from tda_core.data import tabular_dataset
from tda_core.recipes._logistic import LogisticSGDRecipe, predict_proba
from tda_core.recipes._preprocessing import tabular_preprocessor
from tda_core.recipes._sklearn_recipe import SklearnRecipe


@pytest.fixture(scope="module")
def one_decides():
    """``x`` alone decides the class (label = x > 0); ``noise`` and ``colour`` are noise. A few
    test labels are flipped, so that the model makes errors."""
    rng = np.random.default_rng(0)

    def table(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "noise": rng.normal(size=n), "colour": rng.choice(list("rgb"), size=n),
                             "label": np.where(x > 0, "pos", "neg")})

    train, test = table(200), table(40)
    test.loc[:4, "label"] = np.where(test.loc[:4, "label"] == "pos", "neg", "pos")
    return tabular_dataset(train, test, "label", name="one-decides")


def analysis_of(data, recipe, ensemble=1):
    return Analysis(data, recipe, RunConfig(ensemble=ensemble, use_cache=False))


def test_one_feature_alone_carries_all_attribution_exactly(one_decides):
    """L1-regularised logistic regression gives the noise columns a zero coefficient: every
    attribution is on x, and it is exactly coef x centred value in the scaled space."""
    estimator = make_pipeline(tabular_preprocessor(), LogisticRegression(l1_ratio=1.0, solver="liblinear", C=0.05))
    analysis = analysis_of(one_decides, SklearnRecipe(estimator))
    error = 0  # a flipped label: an error of the model
    assert analysis.baseline.predicted_test[error] != one_decides.y_test[error]
    result = feature_attribution(analysis, error, [3, 7, 11])
    assert result.method == LINEAR and result.exact and result.features == ("x", "noise", "colour")
    assert result.pred == one_decides.classes[analysis.baseline.predicted_test[error]]
    assert analysis.engine.stats.retrains == 2 + 1  # the baseline (deterministic probe: 2 seeds) and one fitted model
    # The known answer, by hand: the fitted coefficient of x times its centred, scaled value.
    fitted = SklearnRecipe(estimator).estimator.fit(one_decides.X_train, one_decides.y_train)
    coef = fitted[-1].coef_[0]
    assert coef[1] == 0 and np.all(coef[2:] == 0) and coef[0] != 0
    Z = fitted[:-1].transform(pd.concat([one_decides.X_test.iloc[[error]], one_decides.X_train.iloc[[3, 7, 11]]]))
    mean = fitted[:-1].transform(one_decides.X_train).mean(axis=0)
    sign = 1.0 if one_decides.class_index(result.pred) == 1 else -1.0  # binary coef_: class 1 against class 0
    expected = sign * coef[0] * (Z[:, 0] - mean[0])
    np.testing.assert_allclose(result.error, [expected[0], 0.0, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.train[:, 0], expected[1:], rtol=1e-12)
    assert np.all(result.train[:, 1:] == 0)
    # Contributions plus the offset add up to the logit difference of the model.
    logit = sign * fitted.decision_function(one_decides.X_test.iloc[[error]])[0]
    assert result.error.sum() + result.offset == pytest.approx(logit, rel=1e-12)
    # The sentence follows from the signs: x shared where the error's and a sample's agree.
    agree = int(np.sum(np.sign(result.train[:, 0]) == np.sign(result.error[0])))
    assert agree == int(np.sum(np.sign(expected[1:]) == np.sign(expected[0])))
    assert agree == 0 and result.shared == ()  # rows 3, 7 and 11 all push the other way
    assert result.sentence == ("The error's strongest features (x) are not among the strongest of its top 3 training "
                               "samples with the same sign.")
    # Three rows whose x pushes the same way as the error's, by the coefficients above: x is shared by all three.
    Z_train = fitted[:-1].transform(one_decides.X_train)
    by_hand = sign * coef[0] * (Z_train[:, 0] - mean[0])
    same = [int(i) for i in np.flatnonzero(np.sign(by_hand) == np.sign(expected[0]))[:3]]
    shared = feature_attribution(analysis, error, same)
    np.testing.assert_allclose(shared.train[:, 0], by_hand[same], rtol=1e-12)
    direction = "toward" if expected[0] > 0 else "away from"
    assert shared.shared == ("x",)
    assert shared.sentence == (f"The error and its top training samples share x ({direction} {result.pred}, in 3 of 3): "
                               "the same sign and among the 3 largest features.")


def test_the_sentence_names_what_is_shared_in_each_case():
    from tda_core._feature_attribution import sentence

    features = ("x", "noise", "colour")
    error = np.array([2.0, 0.1, -0.5])
    same = np.array([[1.0, 0.0, -0.2], [3.0, 0.0, 0.1]])
    assert sentence(features, error, same, "pos") == (("x", "colour"), (
        "The error and its top training samples share x (toward pos, in 2 of 2) and colour (away from pos, in 1 of 2): "
        "the same sign and among the 3 largest features."))
    assert sentence(features, error, -same[:1], "pos", images=True) == ((), (
        "The error's strongest regions (x, colour, noise) are not among the strongest of its top 1 training sample "
        "with the same sign."))
    assert sentence(features, error, np.zeros((0, 3)), "pos") == ((), "No training samples to compare with.")


def test_the_default_logistic_recipe_is_exact_and_x_dominates(one_decides):
    recipe = LogisticSGDRecipe()
    analysis = analysis_of(one_decides, recipe, ensemble=2)
    tests = [i for i in range(one_decides.n_test) if analysis.baseline.predicted_test[i] != one_decides.y_test[i]]
    result = feature_attribution(analysis, tests[0], list(range(10)))
    assert result.method == LINEAR
    # The fitted weights are the member's: the same probabilities as the engine's baseline.
    from tda_core._feature_attribution import fit_logistic_sgd

    theta = fit_logistic_sgd(recipe, one_decides, analysis.members[0].seed)["theta"]
    prep = tabular_preprocessor().fit(one_decides.X_train)
    X = np.hstack([prep.transform(one_decides.X_test), np.ones((one_decides.n_test, 1))])
    np.testing.assert_allclose(predict_proba(X, theta[:, :, None])[0], analysis.baseline.proba_test[0], rtol=1e-12, atol=1e-15)
    p, t = one_decides.class_index(result.pred), one_decides.class_index(result.true)
    logit = X[tests[0]] @ (theta[:, p] - theta[:, t])
    assert result.error.sum() + result.offset == pytest.approx(logit, rel=1e-10)
    shares = np.abs(np.vstack([result.error, result.train]))
    assert shares[:, 0].sum() / shares.sum() > 0.85  # x carries almost all attribution (SGD leaves noise small weights)
    far = np.abs(np.concatenate([one_decides.X_test["x"].to_numpy()[tests[:1]], one_decides.X_train["x"].to_numpy()[:10]])) > 0.5
    assert np.all(np.argmax(shares[far], axis=1) == 0)  # and is the largest wherever x is not near the boundary
    # Cached and counted: asking again trains nothing.
    before = analysis.engine.stats.retrains
    feature_attribution(analysis, tests[0], [1, 2])
    assert analysis.engine.stats.retrains == before


def test_other_models_get_occlusion_against_means_and_modes(one_decides):
    """A depth-1 tree splits on x alone: occluding the noise changes nothing."""
    analysis = analysis_of(one_decides, SklearnRecipe(make_pipeline(tabular_preprocessor(), DecisionTreeClassifier(max_depth=1))))
    result = feature_attribution(analysis, 0, list(range(20)))
    assert result.method == OCCLUSION and result.offset is None
    assert np.all(result.error[1:] == 0) and np.all(result.train[:, 1:] == 0)
    assert np.count_nonzero(result.train[:, 0]) >= 5  # rows on the other side of the split from the mean of x


def test_column_owners_sum_one_hot_columns_back():
    frame = pd.DataFrame({"age": [1.0, 2.0, 3.0], "colour": ["r", "g", "r"], "colour_r": [0.0, 1.0, 2.0]})
    prep = tabular_preprocessor().fit(frame)
    owners = column_owners(prep, list(frame.columns))
    names = prep.get_feature_names_out()
    assert [frame.columns[o] for o in owners] == ["age", "colour_r", "colour", "colour"], names


def test_the_sentence_names_shared_features():
    features = ("a", "b", "c", "d")
    error = np.array([2.0, -1.0, 0.1, 0.5])
    train = np.array([[1.0, -3.0, 0.0, 0.0], [1.0, 2.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]])
    shared, words = sentence(features, error, train, "bad")
    assert shared == ("a", "b")
    assert words == ("The error and its top training samples share a (toward bad, in 2 of 3) and b (away from bad, in 1 of 3): "
                     "the same sign and among the 3 largest features.")
    shared, words = sentence(features, error, -train, "bad")
    assert shared == ("a", "b")  # one sample each
    shared, words = sentence(features, error, np.zeros((2, 4)), "bad")
    assert shared == () and words == "The error's strongest features (a, b, d) are not among the strongest of its top 2 training samples with the same sign."


def test_images_get_gradient_saliency_on_member_0(tiny_images):
    from tda_core.recipes.torch._recipe import TorchRecipe

    analysis = analysis_of(tiny_images, TorchRecipe("small_cnn", epochs=3, batch_size=8), ensemble=2)
    analysis.compute_baseline()
    before = analysis.engine.stats.retrains
    error = int(analysis.errors.groups[0].test_indices[0])
    result = feature_attribution(analysis, error, [0, 4, 5])
    assert analysis.engine.stats.retrains == before + 1
    assert result.method == GRADIENT and result.features == REGIONS
    assert result.error_map.shape == (8, 8) and result.train_maps.shape == (3, 8, 8)
    np.testing.assert_allclose(result.error.sum(), result.error_map.sum(), rtol=1e-9)
    assert np.isfinite(result.train).all() and np.abs(result.error).sum() > 0
    # The sentence, derived from the attributions: a region is shared with a sample where it is among
    # the 3 largest of both, with the same sign; most shared first, then the error's largest first.
    def largest(values):
        return [j for j in np.argsort(-np.abs(values), kind="stable")[:3] if values[j] != 0]

    counts = {j: sum(j in largest(row) and np.sign(row[j]) == np.sign(result.error[j]) for row in result.train)
              for j in largest(result.error)}
    shared = [j for j in sorted(counts, key=lambda j: (-counts[j], -abs(result.error[j]))) if counts[j]]
    assert shared, result.sentence  # seeded: the error shares regions with its samples
    assert result.shared == tuple(REGIONS[j] for j in shared)
    parts = [f"{REGIONS[j]} ({'toward' if result.error[j] > 0 else 'away from'} {result.pred}, in {counts[j]} of 3)" for j in shared]
    named = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    assert result.sentence == f"The error and its top training samples share {named}: the same sign and among the 3 largest regions."


@pytest.mark.parametrize("final, method", [("forest", OCCLUSION), ("logistic", LINEAR)])
def test_an_uploaded_skops_model_on_the_credit_demo(credit, tmp_path, final, method):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    from tda_core.recipes._files import load_model

    last = RandomForestClassifier(n_estimators=10, random_state=0) if final == "forest" else LogisticRegression(max_iter=1000)
    path = tmp_path / f"{final}.skops"
    sio.dump(make_pipeline(tabular_preprocessor(), last), path)
    analysis = analysis_of(credit, load_model(str(path), credit, trust_code=True), ensemble=2)
    group = analysis.errors.groups[0]
    result = feature_attribution(analysis, group.test_indices[0], [0, 1, 2, 3, 4], pred=group.pred, true=group.true)
    assert result.method == method and result.features == tuple(credit.X_train.columns)
    assert result.error.shape == (6,) and result.train.shape == (5, 6) and np.isfinite(result.train).all()
    assert np.abs(result.error).sum() > 0 and result.sentence.startswith("The error")
    if method == LINEAR:  # exact: the contributions and the offset add up to the model's logit difference
        model = make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=1000)).fit(credit.X_train, credit.y_train)
        sign = 1.0 if credit.class_index(group.pred) == 1 else -1.0
        logit = sign * model.decision_function(credit.X_test.iloc[[group.test_indices[0]]])[0]
        assert result.error.sum() + result.offset == pytest.approx(logit, rel=1e-9)


def test_the_fitted_model_is_cached_on_disk_and_counted(one_decides, tmp_path):
    """A second analysis (another process, say) reads the member's model from the cache."""
    config = RunConfig(ensemble=2, cache_dir=str(tmp_path))
    first = Analysis(one_decides, LogisticSGDRecipe(), config)
    first.compute_baseline()
    a = feature_attribution(first, 0, [1, 2])
    assert first.engine.stats.retrains == 2 + 1
    second = Analysis(one_decides, LogisticSGDRecipe(), config)
    second.compute_baseline()
    b = feature_attribution(second, 0, [1, 2])
    assert second.engine.stats.retrains == 0 and second.engine.stats.cache_hits == 2 + 1
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.error, b.error)


def test_a_network_on_a_table_gets_gradient_x_centred_input(one_decides):
    from tda_core._feature_attribution import CENTRED_GRADIENT
    from tda_core.recipes.torch._recipe import TorchRecipe

    analysis = analysis_of(one_decides, TorchRecipe("mlp", epochs=30, batch_size=32, lr=0.01), ensemble=2)
    result = feature_attribution(analysis, int(analysis.errors.groups[0].test_indices[0]), list(range(10)))
    assert result.method == CENTRED_GRADIENT and result.features == ("x", "noise", "colour")
    shares = np.abs(np.vstack([result.error, result.train]))
    assert shares[:, 0].sum() / shares.sum() > 0.6  # x, which alone decides, carries most of it


def test_a_correct_prediction_is_refused_in_words(one_decides):
    from tda_core._exceptions import UsageError

    analysis = analysis_of(one_decides, LogisticSGDRecipe(), ensemble=2)
    right = next(i for i in range(one_decides.n_test) if analysis.baseline.predicted_test[i] == one_decides.y_test[i])
    with pytest.raises(UsageError, match=f"test row {right} is predicted as its true class"):
        feature_attribution(analysis, right, [0])
    with pytest.raises(UsageError, match=r"training indices \[999\] are out of range"):
        feature_attribution(analysis, 0, [999])
    other = one_decides.classes[1 - one_decides.y_test[right]]
    assert feature_attribution(analysis, right, [0], pred=other).pred == other
