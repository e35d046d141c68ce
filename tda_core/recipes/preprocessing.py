"""The standard preprocessing of a table: imputation, one-hot encoding and scaling.

The engine's own recipes fit it once on the training features without labels, which is what
lets them remove a row by giving it weight 0 in place (shared/DESIGN.md, "Actions").
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def tabular_preprocessor() -> ColumnTransformer:
    """One-hot for categorical columns, scaling for numeric ones, imputation for both."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include=np.number)),
            ("categorical", categorical, make_column_selector(dtype_exclude=np.number)),
        ]
    )
