"""Fast estimates that choose what to retrain: influence functions, last-layer influence, candidates."""


from ._candidates import Estimates, random_extra

__all__ = [
    "Estimates",
    "random_extra",
]
