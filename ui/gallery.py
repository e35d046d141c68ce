"""Image galleries: thumbnails with captions, capped so a page stays light."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

GALLERY_CAP = 48
COLUMNS = 8


def gallery(thumbnails: np.ndarray | None, indices: Sequence[int], captions: Sequence[str],
            cap: int = GALLERY_CAP, columns: int = COLUMNS) -> None:
    """Draw ``thumbnails[indices]`` in a grid with one caption each (a line break in a caption is
    kept); at most ``cap`` images."""
    if thumbnails is None:
        st.info("This dataset has no thumbnails to show.")
        return
    shown = list(indices)[:cap]
    if not shown:
        return
    for start in range(0, len(shown), columns):
        cols = st.columns(columns)
        for col, pos in zip(cols, range(start, min(start + columns, len(shown)))):
            with col:  # the caption as markdown under the image: it keeps its line breaks, st.image's does not
                st.image(thumbnails[shown[pos]], width="stretch")
                st.caption(captions[pos].replace("\n", "  \n"))
    if len(indices) > cap:
        st.caption(f"Showing the first {cap} of {len(indices)} images; the table lists all of them.")
