"""tda_core: which training data is behind a classifier's errors, measured by retraining.

The engine is importable without Streamlit or torch; torch loads only for image data.
"""

__version__ = "0.1.0"
