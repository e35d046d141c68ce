"""Loading and validating datasets: tables, images, archive safety, the embedded demos.

Image loading imports torch and torchvision inside its functions; tables never do.
"""

from .dataset import Dataset
from .demos import DEMOS, load_demo
from .tables import load_tabular, read_table, split_table, tabular_dataset

__all__ = ["DEMOS", "Dataset", "load_demo", "load_tabular", "read_table", "split_table", "tabular_dataset"]
