"""Loading and validating datasets: tables, images, archive safety, the embedded demos, pools.

Image loading imports torch and torchvision inside its functions; tables never do.
"""

from .dataset import Dataset
from .demos import DEMOS, load_demo
from .pools import attach_pool
from .tables import load_tabular, read_table, split_table, tabular_dataset

__all__ = ["DEMOS", "Dataset", "attach_pool", "load_demo", "load_tabular", "read_table", "split_table", "tabular_dataset"]
