"""/governance/audit: the audit explorer: search by actor, action, entity and time, one entity's history,
the chain's verification badge, CSV/JSON export."""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes, styles
from aisystem_app.components.badges import outcome_badge
from aisystem_app.components.data_table import Column, data_table
from aisystem_app.components.feedback import not_permitted
from aisystem_app.components.forms import choice
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.audit import ALL, OUTCOMES, AuditState


def _mono(value: rx.Var[str]) -> rx.Component:
    return rx.text(value, style=styles.MONO)


def _entity(value: rx.Var[str]) -> rx.Component:
    """The entity; a click shows its whole history."""
    return rx.cond(value == fmt.NONE, rx.text(value),
                   rx.link(value, on_click=AuditState.show_entity(value), cursor="pointer", class_name="audit-entity",
                           title="Show this entity's history"))


COLUMNS = (
    Column("time", "Time", render=_mono, sort_key="seq", width="13rem"),
    Column("actor", "Actor"),
    Column("action", "Action", render=_mono),
    Column("entity", "Entity", render=_entity),
    Column("outcome", "Outcome", render=outcome_badge, width="7rem"),
)


def verify_button() -> rx.Component:
    """Runs the chain check."""
    return rx.button(
        rx.cond(AuditState.verifying, rx.spinner(size="2"), rx.icon("shield-check", size=16)),
        "Verify chain",
        on_click=AuditState.verify,
        disabled=AuditState.verifying,
        id="verify-chain",
    )


def chain_badge() -> rx.Component:
    """The chain's verification state: checking, intact or broken."""
    return rx.cond(
        AuditState.verifying,
        rx.badge(rx.spinner(size="1"), "Checking chain", color_scheme="gray", id="chain-badge", data_state="checking"),
        rx.cond(
            AuditState.verify_done,
            rx.cond(AuditState.verify_valid,
                    rx.badge(rx.icon("shield-check", size=14), "Chain intact", color_scheme="green", id="chain-badge",
                             data_state="intact"),
                    rx.badge(rx.icon("shield-alert", size=14), "Chain broken", color_scheme="red", id="chain-badge",
                             data_state="broken")),
            rx.badge("Chain not checked", color_scheme="gray", id="chain-badge", data_state="unknown"),
        ),
    )


def export_buttons() -> rx.Component:
    """Download what the search matches (oldest first)."""
    return rx.hstack(
        rx.button(rx.icon("download", size=14), "CSV", variant="soft", size="2", on_click=AuditState.export("csv"),
                  disabled=AuditState.exporting, id="audit-export-csv"),
        rx.button(rx.icon("download", size=14), "JSON", variant="soft", size="2", on_click=AuditState.export("json"),
                  disabled=AuditState.exporting, id="audit-export-json"),
        spacing="2",
    )


def verify_result() -> rx.Component:
    """What the last check found."""
    return rx.cond(
        AuditState.verify_done,
        rx.callout(
            AuditState.verify_summary,
            icon=rx.cond(AuditState.verify_valid, "circle-check", "triangle-alert"),
            color_scheme=rx.cond(AuditState.verify_valid, "green", "red"),
            width="100%",
            id="verify-result",
            data_valid=rx.cond(AuditState.verify_valid, "true", "false"),
        ),
    )


def filter_bar() -> rx.Component:
    """Actor, action and outcome; applying them puts them in the URL. Keyed by the filters, so a URL
    that brings other ones (back, a shared link) re-fills the boxes."""
    filters = AuditState.filters
    return rx.form(
        rx.hstack(
            rx.input(name="actor", placeholder="Actor (username)", default_value=filters["actor"], max_length=100,
                     id="audit-actor", width="12rem"),
            rx.input(name="action", placeholder="Action (auth.* for a prefix)", default_value=filters["action"],
                     max_length=100, id="audit-action", width="16rem"),
            choice({ALL: "Any outcome"} | {o: o.capitalize() for o in OUTCOMES}, name="outcome",
                   default_value=filters["outcome"], id="audit-outcome", aria_label="Outcome"),
            rx.input(name="entity_type", placeholder="Entity type (model)", default_value=filters["entity_type"],
                     max_length=100, id="audit-entity-type", width="10rem"),
            rx.input(name="entity_id", placeholder="Entity id", default_value=filters["entity_id"], max_length=100,
                     id="audit-entity-id", width="14rem"),
            rx.hstack(rx.text("From", size="2", color_scheme="gray"),
                      rx.input(name="since", type="date", default_value=filters["since"], id="audit-since",
                               aria_label="From (UTC)", title="From (UTC)"), align="center", spacing="1"),
            rx.hstack(rx.text("Before", size="2", color_scheme="gray"),
                      rx.input(name="until", type="date", default_value=filters["until"], id="audit-until",
                               aria_label="Before (UTC)", title="Before (UTC)"), align="center", spacing="1"),
            rx.button("Filter", type="submit", variant="soft", id="audit-filter-submit"),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.apply_filters,
        reset_on_submit=False,
        key=filters.to_string(),
        id="audit-filters",
    )


def history_heading() -> rx.Component:
    """Shown while the search names one entity: its history."""
    return rx.cond(
        AuditState.entity_history != "",
        rx.hstack(rx.heading("History of ", AuditState.entity_history, size="4", id="audit-history"),
                  rx.button("Show all records", variant="ghost", size="1", on_click=AuditState.clear_filters),
                  align="center", spacing="3"),
    )


def audit_log() -> rx.Component:
    """Header, badge, check result, search, export and the table (a click on an entity shows its history)."""
    return rx.vstack(
        page_header("Every change, sign-in and denial, hash-chained so that tampering shows.", chain_badge(),
                    export_buttons(), verify_button()),
        verify_result(),
        filter_bar(),
        history_heading(),
        rx.card(
            data_table(AuditState, COLUMNS, empty_title="No audit records", table_id="audit-table"),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


@protected_page(routes.AUDIT, "Audit log", on_load=[AuditState.load])
def audit() -> rx.Component:
    """The audit log, for holders of `audit:read`."""
    return rx.cond(AuditState.allowed, audit_log(), not_permitted("the audit log"))
