"""The audit page's state: keyset pages forward and back, sorting within a page."""

from __future__ import annotations

import pytest
import reflex as rx

from aisystem_app.state.governance.audit import AuditState
from aisystem_app.state.table import PAGE_SIZE
from backend.audit import service as audit
from backend.core.db import session_scope
from tests.aisystem_app.conftest import follow, signed_in_as

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

    path, replace = await follow(state, AuditState.next_page.fn(state))
    assert path.startswith("?page=2&after=") and not replace  # a history entry, so back returns
    assert state.page_number == 2 and state.rows and state.rows[0]["seq"] < first[-1]["seq"]
    second = list(state.rows)

    await follow(state, AuditState.previous_page.fn(state))
    assert state.page_number == 1 and state.rows == first
    assert AuditState.previous_page.fn(state) is None and state.page_number == 1

    # A link to page 2 opened in another tab shows page 2, and its previous page is the first.
    other_tab = rx.State(_reflex_internal_init=True)
    await signed_in_as(other_tab, demo_users["admin"])
    other = await other_tab.get_state(AuditState)
    await follow(other, rx.redirect(path))
    assert other.rows == second and other.page_number == 2
    await follow(other, AuditState.previous_page.fn(other))
    assert other.rows == first


async def test_filters_live_in_the_url(root_state, demo_users) -> None:
    add_records(3)
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(AuditState)
    await AuditState.load.fn(state)
    path, _replace = await follow(state, AuditState.apply_filters.fn(state, {"actor": "bot001", "action": "test.*",
                                                                             "outcome": "bogus"}))
    assert path == "?actor=bot001&action=test.%2A"
    assert [row["actor"] for row in state.rows] == ["bot001"]
    assert state.filters == {"actor": "bot001", "action": "test.*", "outcome": "all", "entity_type": "",
                             "entity_id": "", "since": "", "until": ""}
    await follow(state, AuditState.apply_filters.fn(state, {"outcome": "denied"}))
    assert state.rows == [] and state.filters["outcome"] == "denied"


async def test_sorting_orders_the_page_and_flips(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(AuditState)
    await AuditState.load.fn(state)
    AuditState.sort_by.fn(state, "actor")
    actors = [row["actor"] for row in state.sorted_rows]
    assert actors == sorted(actors)
    AuditState.sort_by.fn(state, "actor")
    assert [row["actor"] for row in state.sorted_rows] == sorted(actors, reverse=True)


async def test_entity_history_time_window_and_export(root_state, demo_users) -> None:
    with session_scope() as session:
        audit.record(session=session, actor=None, actor_name="bot", action="model.update", entity_type="model",
                     entity_id="model_1", summary={"field": "licence"})
        audit.record(session=session, actor=None, actor_name="bot", action="model.update", entity_type="model",
                     entity_id="model_2")
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(AuditState)
    await AuditState.load.fn(state)
    path, _replace = await follow(state, AuditState.show_entity.fn(state, "model model_1"))
    assert path == "?entity_type=model&entity_id=model_1"
    assert [row["entity"] for row in state.rows] == ["Model model_1"] and state.entity_history == "Model model_1"
    await follow(state, AuditState.apply_filters.fn(state, {"since": "2999-01-01", "until": "not a date"}))
    assert state.rows == [] and state.filters["until"] == ""
    from aisystem_app.state.governance.audit import export_text
    from backend.auth.principal import SYSTEM

    with session_scope() as session:
        text = export_text(session, SYSTEM, {"entity_type": "model", "entity_id": "model_1"}, "csv")
        document = export_text(session, SYSTEM, {"actor": "bot"}, "json")
    lines = text.strip().splitlines()
    assert lines[0].startswith("seq,id,occurredAt") and len(lines) == 2 and "licence" in lines[1]
    import json

    assert json.loads(document)["count"] == 2
