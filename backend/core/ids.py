"""Prefixed, time-ordered string ids like the design's (`model_…`, `dataset_…`)."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`prefix_` + 12 hex digits of milliseconds + 8 random hex digits: sortable by creation time."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"
