"""Runners: where a job's execution happens (subprocess, python callables, containers)."""
