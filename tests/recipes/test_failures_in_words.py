"""A recipe's failures are one line in the user's words: no exception class names, and the
third-party exception kept as the cause (``raise ModelError(...) from exc``)."""

from __future__ import annotations

import operator
import pickle

import joblib
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from tda_core._actions import Edit
from tda_core._engine import _unreachable, probe_dask_scheduler
from tda_core._exceptions import BackendError, ModelError
from tda_core.recipes import SklearnRecipe, load_model


class Silent(ClassifierMixin, BaseEstimator):
    """An estimator that fails without a message."""

    def fit(self, X, y):
        raise RuntimeError()

    def predict_proba(self, X):  # pragma: no cover - never fitted
        raise AssertionError


def failure(recipe: SklearnRecipe, data) -> ModelError:
    with pytest.raises(ModelError) as caught:
        recipe.fit_predict(data, [Edit.baseline()], seed=0)
    return caught.value


def test_a_users_estimator_fails_in_words(credit):
    missing = failure(SklearnRecipe(make_pipeline(FunctionTransformer(operator.itemgetter("no such column")), LogisticRegression())), credit)
    assert str(missing) == "LogisticRegression failed to train: no column or key 'no such column'"
    assert isinstance(missing.__cause__, KeyError)
    sparse = failure(SklearnRecipe(make_pipeline(OneHotEncoder(handle_unknown="ignore"), HistGradientBoostingClassifier(max_iter=5))), credit)
    assert str(sparse).startswith("HistGradientBoostingClassifier failed to train: Sparse data was passed")
    assert "TypeError" not in str(sparse) and isinstance(sparse.__cause__, TypeError)
    negative = failure(SklearnRecipe(LogisticRegression(C=-1.0)), credit)
    assert str(negative).startswith("LogisticRegression failed to train: The 'C' parameter of LogisticRegression must be")
    assert "Error" not in str(negative) and isinstance(negative.__cause__, ValueError)
    silent = failure(SklearnRecipe(Silent(), name="silent"), credit)
    assert str(silent) == "silent failed to train: it stopped with an error that gives no message"


def test_unreadable_model_files_say_why(credit, tmp_path):
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 not a skops file")
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / "bad.skops", credit)
    assert str(caught.value) == "bad.skops: not a readable .skops file (File is not a zip file)"
    assert caught.value.__cause__ is not None
    (tmp_path / "cut.joblib").write_bytes(pickle.dumps(LogisticRegression())[:20])
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / "cut.joblib", credit, trust_code=True)
    assert str(caught.value) == "cut.joblib: not a readable .joblib file (pickle exhausted before end of frame)"
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
    joblib.dump(LogisticRegression(), tmp_path / "fine.joblib")
    assert load_model(tmp_path / "fine.joblib", credit, trust_code=True).display_name == "LogisticRegression (fine.joblib)"


def test_an_unreachable_scheduler_says_why_in_words():
    assert _unreachable(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert _unreachable(TimeoutError()) == "no answer in time"
    assert _unreachable(OSError("no route")) == "no route"
    assert _unreachable(RuntimeError()) == "the connection failed"
    with pytest.raises(BackendError) as caught:
        probe_dask_scheduler("tcp://127.0.0.1:9", timeout=2)  # the discard port: nothing listens on it here
    assert str(caught.value) == ("cannot reach the Dask scheduler at tcp://127.0.0.1:9 (connection refused); "
                                 "start one with `dask scheduler` or check the address")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
