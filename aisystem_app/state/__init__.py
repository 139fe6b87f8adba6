"""Reflex states: thin adapters that call the backend services in-process (one module per page)."""
