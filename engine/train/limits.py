"""Bounds on training options that the command line checks before torch is loaded."""

# Beyond a few times what training learnt, an adapter draws what no one asked for.
MOST_EXTRAPOLATION = 8.0
