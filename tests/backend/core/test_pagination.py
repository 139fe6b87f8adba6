"""Cursor encoding is opaque but round-trips; foreign cursors are refused."""

from __future__ import annotations

import pytest

from backend.core.errors import InvalidRequest
from backend.core.pagination import decode_cursor, encode_cursor


def test_cursor_round_trip():
    assert decode_cursor(encode_cursor([5, "audit_x"]), 2) == [5, "audit_x"]


@pytest.mark.parametrize("cursor", ["", "%%%", encode_cursor([1]), encode_cursor({"a": 1})])
def test_foreign_cursor_is_refused(cursor):
    with pytest.raises(InvalidRequest):
        decode_cursor(cursor or "e30", 2)
