"""Loading and validating datasets: tables, images, archive safety, the embedded demos, pools.

Image loading imports torch and torchvision inside its functions; tables never do.
"""

from ._dataset import Dataset
from ._demos import DEMOS, load_demo
from ._images import load_images
from ._pools import attach_pool
from ._tables import load_tabular, read_table, split_table, tabular_dataset

__all__ = [
    "DEMOS",
    "Dataset",
    "attach_pool",
    "load_demo",
    "load_images",
    "load_tabular",
    "read_table",
    "split_table",
    "tabular_dataset",
]
