"""Composition root: config, wiring, runtime loops, the qrun CLI."""
