"""The audit page's state: keyset pages forward and back, sorting within a page."""

from __future__ import annotations

import pytest

from aisystem_app.state.audit import AuditState
from aisystem_app.state.table import PAGE_SIZE
from backend.audit import service as audit
from backend.core.db import session_scope
from tests.aisystem_app.conftest import signed_in_as

pytestmark = pytest.mark.anyio


def add_records(count: int) -> None:
    with session_scope() as session:
        for i in range(count):
            audit.record(session=session, actor=None, actor_name=f"bot{i:03d}", action="test.event")


async def test_pages_move_forward_and_back(root_state, demo_users) -> None:
    add_records(PAGE_SIZE + 5)
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(AuditState)
    await AuditState.load.fn(state)
    first = list(state.rows)
    assert len(first) == PAGE_SIZE and state.has_next and state.page_number == 1

    await AuditState.next_page.fn(state)
    assert state.page_number == 2 and state.rows and state.rows[0]["seq"] < first[-1]["seq"]

    await AuditState.previous_page.fn(state)
    assert state.page_number == 1 and state.rows == first
    assert await AuditState.previous_page.fn(state) is None and state.page_number == 1


async def test_sorting_orders_the_page_and_flips(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(AuditState)
    await AuditState.load.fn(state)
    AuditState.sort_by.fn(state, "actor")
    actors = [row["actor"] for row in state.sorted_rows]
    assert actors == sorted(actors)
    AuditState.sort_by.fn(state, "actor")
    assert [row["actor"] for row in state.sorted_rows] == sorted(actors, reverse=True)
