"""Confusion matrices before and after an edit, and their difference, in a row that wraps: on a
narrow window (or with many classes) a matrix moves below the previous one instead of running off
the page. Cells are sized from the number of classes (:func:`ui.charts.matrix_step`) and long class
names are cut on the axes (whole in the tooltip), so 2 to 20 classes with names of 30 characters fit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from . import charts


def before_after(before: np.ndarray, after: np.ndarray, classes: Sequence[str], titles: tuple[str, str],
                 selected: tuple[str, str] | None = None) -> None:
    st.caption("Confusion matrices: blue = correct, orange to red = errors, the chosen error cell framed in black. "
               "Change: green = better (more correct, fewer errors), red = worse, no colour = no change.")
    with st.container(horizontal=True, gap="large", width="stretch"):
        for matrix, title in zip((before, after), titles):
            st.altair_chart(charts.confusion_chart(matrix, classes, title, selected=selected), width="content")
        st.altair_chart(charts.change_matrix_chart(before, after, classes, "Change (after − before)", selected=selected),
                        width="content")
