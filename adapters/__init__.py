"""Adapters: everything that touches the world (stores, runners, storage, notifiers)."""
