"""The product's errors are in the user's words, and fit the exception types Python code expects."""

from __future__ import annotations

import pytest

from tda_core._exceptions import BudgetError, DataError, ModelError, TDAError, UsageError
from tda_core._manifest import read_manifest
from tda_core.data import read_table


def test_input_errors_are_value_errors_as_in_scikit_learn():
    for cls in (DataError, UsageError, BudgetError):
        assert issubclass(cls, TDAError) and issubclass(cls, ValueError)
    assert not issubclass(ModelError, ValueError)
    # Code that guards a call with `except ValueError` catches the product's refusal of bad input.
    with pytest.raises(ValueError, match=r"unsupported file type \.txt"):
        read_table(b"a,b\n1,2\n", "table.txt")


def test_a_manifest_refusal_keeps_its_own_words():
    """The JSON parser's hooks raise UsageError, a ValueError too: it is not re-worded as bad JSON."""
    with pytest.raises(UsageError, match=r"^the manifest repeats the field \S+ in one object"):
        read_manifest('{"a": 1, "a": 2}')
    with pytest.raises(UsageError, match="the manifest holds NaN, which is not a JSON number"):
        read_manifest('{"a": NaN}')
    with pytest.raises(UsageError, match=r"^the manifest is not valid JSON"):
        read_manifest('{"a": ')
