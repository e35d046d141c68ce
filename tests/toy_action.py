"""A toy fifth action for the tests that show a new action touches tda_core/_actions.py only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tda_core._actions import Action


class Halve(Action):
    """Half a vote: the sample's weight ×0.5, a softer remove."""

    name = "halve"
    title = "Halve the weight"
    verb = "Halve"
    meaning = "weight ×0.5"
    description = "Halve: each training sample counts half on its own, and the ensemble is retrained."
    gradient_terms = (("old", -0.5),)

    def edit_text(self, label: str, new_label: str | None) -> str:
        return f"{label}, weight ×0.5"

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] *= 0.5
