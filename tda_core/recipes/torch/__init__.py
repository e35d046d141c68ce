"""PyTorch networks as recipes: the recipe, the architectures, stacked training, head mode.

Importing this package does not import torch; building or training a network does.
"""
