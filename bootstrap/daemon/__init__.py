"""The daemon: the loops of `qrun serve`, their supervision and start-up recovery."""
