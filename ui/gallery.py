"""Image galleries: thumbnails with captions, capped so a page stays light.

Tiles have a fixed width and wrap, so a narrow window shows fewer per row instead of squeezing
captions into a few letters a line. Where ``details`` are given, a click on a tile's zoom button
enlarges the image in a dialog with those details (label, prediction, effect, p-value), and
``mark`` offers to add it to the fix list from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

GALLERY_CAP = 48
COLUMNS = 8
TILE = 116  # pixels of a tile (image and caption) in a gallery of COLUMNS or fewer
SMALL_TILE = 72  # a denser gallery (more columns asked for): small thumbnails, short captions
OPEN = "gallery_open"  # (gallery key, sample index) of the enlarged image, or None
ZOOM = 320  # pixels of the enlarged image


def close() -> None:
    st.session_state[OPEN] = None


def enlarge(key: str, index: int) -> None:
    st.session_state[OPEN] = (key, int(index))


@st.dialog("Image", width="medium", on_dismiss=close)
def _zoom(picture: np.ndarray, title: str, lines: Sequence[str], mark: tuple[str, Callable[[], None], bool] | None) -> None:
    st.markdown(f"**{title}**")
    with st.container(horizontal=True, gap="medium"):
        st.image(picture, width=ZOOM)
        with st.container(width="stretch"):
            for line in lines:
                st.markdown(line)
            if mark is not None:
                label, action, marked = mark
                if marked:
                    st.success("In the fix list.", icon=":material/check:")
                elif st.button(label, icon=":material/playlist_add:", type="primary", key="gallery_mark"):
                    action()
                    st.rerun()


def gallery(thumbnails: np.ndarray | None, indices: Sequence[int], captions: Sequence[str],
            cap: int = GALLERY_CAP, columns: int = COLUMNS, key: str = "gallery",
            details: Callable[[int], tuple[str, list[str]]] | None = None,
            mark: Callable[[int], tuple[str, Callable[[], None], bool]] | None = None) -> None:
    """Draw ``thumbnails[indices]`` as wrapping tiles with one caption each (a line break in a
    caption is kept); at most ``cap`` images. ``details(i)`` -> (title, lines) makes each tile
    enlargeable; ``mark(i)`` -> (button label, what it does, already done) adds a button there."""
    if thumbnails is None:
        st.info("This dataset has no thumbnails to show.")
        return
    shown = list(indices)[:cap]
    if not shown:
        return
    tile = TILE if columns <= COLUMNS else SMALL_TILE
    with st.container(horizontal=True, gap="small"):
        for pos, index in enumerate(shown):
            with st.container(width=tile, gap=None):
                st.image(thumbnails[index], width=tile)
                if details is not None:
                    st.button("Enlarge", icon=":material/zoom_in:", key=f"zoom:{key}:{index}", type="tertiary",
                              on_click=enlarge, args=(key, index), help="Enlarge, with its label, prediction and effect")
                st.caption(captions[pos].replace("\n", "  \n"))  # markdown under the image keeps line breaks
    if len(indices) > cap:
        st.caption(f"Showing the first {cap} of {len(indices)} images; the table lists all of them.")
    opened = st.session_state.get(OPEN)
    if details is not None and opened and opened[0] == key and opened[1] in shown:
        title, lines = details(opened[1])
        _zoom(thumbnails[opened[1]], title, lines, None if mark is None else mark(opened[1]))
