"""Fast estimates that choose what to retrain: influence functions, last-layer influence, candidates."""
