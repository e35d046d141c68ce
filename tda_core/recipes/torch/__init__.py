"""PyTorch networks as recipes: the recipe, the architectures, stacked training, head mode.

Importing this package does not import torch; building or training a network does.
"""


from ._networks import ARCHITECTURES, image_input
from ._recipe import DEFAULT_IMAGE_EPOCHS

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_IMAGE_EPOCHS",
    "image_input",
]
