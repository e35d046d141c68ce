"""Display helpers shared by the dashboard's pages: state keys, loaders, charts, tables, progress.

Nothing here computes results: numbers come from :mod:`tda_core` and are only arranged for display.
"""
