"""Confusion matrices side by side, in a row that wraps: on a narrow window (or with many
classes) the second matrix moves below the first instead of running off the page."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from . import charts


def before_after(before: np.ndarray, after: np.ndarray, classes: Sequence[str], titles: tuple[str, str],
                 selected: tuple[str, str] | None = None) -> None:
    with st.container(horizontal=True, gap="large", width="content"):
        for matrix, title in zip((before, after), titles):
            st.altair_chart(charts.confusion_chart(matrix, classes, title, selected=selected), width="content")
