"""/governance/audit: the audit trail, page by page, and the chain check."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.badges import outcome_badge
from aisystem_app.components.data_table import Column, data_table
from aisystem_app.components.feedback import not_permitted
from aisystem_app.components.forms import choice
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.audit import ALL, OUTCOMES, AuditState


def _mono(value: rx.Var[str]) -> rx.Component:
    return rx.text(value, style=styles.MONO)


COLUMNS = (
    Column("time", "Time", render=_mono, sort_key="seq", width="13rem"),
    Column("actor", "Actor"),
    Column("action", "Action", render=_mono),
    Column("entity", "Entity"),
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


def audit_log() -> rx.Component:
    """Header, check result and the table."""
    return rx.vstack(
        page_header("Every change, sign-in and denial, hash-chained so that tampering shows.", verify_button()),
        verify_result(),
        filter_bar(),
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
