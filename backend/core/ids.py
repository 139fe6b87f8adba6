"""Prefixed, time-ordered string ids like the design's (`model_…`, `dataset_…`)."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # the milliseconds and counter of the newest id this process made


def new_id(prefix: str) -> str:
    """`prefix_` + 12 hex digits of milliseconds + 8 hex digits: sortable by creation time.

    The 8 digits start at a random value each millisecond and count up within it, so ids one process
    makes in the same millisecond (a version archived and the next promoted at one instant) still sort
    in the order they were made."""
    now = int(time.time() * 1000)
    with _lock:
        millis, counter = _last
        if now > millis:
            millis, counter = now, secrets.randbits(31)  # half the range left to count up in
        elif counter < 0xFFFFFFFF:
            counter += 1  # the same millisecond, or the clock stepped back: stay after the last id
        else:
            millis, counter = millis + 1, secrets.randbits(31)
        _last[:] = [millis, counter]
    return f"{prefix}_{millis:012x}{counter:08x}"
