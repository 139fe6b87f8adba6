"""Ids sort in the order they were made, within a millisecond too."""

from __future__ import annotations

import re

from backend.core.ids import new_id


def test_ids_made_in_one_millisecond_still_sort_in_the_order_they_were_made():
    ids = [new_id("stagehist") for _ in range(5000)]  # many share a millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"stagehist_[0-9a-f]{20}", i) for i in ids)
    assert len({i[:-8] for i in ids}) < len(ids), "the test made ids in the same millisecond"
