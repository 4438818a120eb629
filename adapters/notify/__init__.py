"""Notifiers: where Notify effects go (structured logs, webhooks)."""
