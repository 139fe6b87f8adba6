"""/governance/violations: what the policies found — entity, policy, rule, time, status — with waive and resolve
for admins."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.data_table import pagination
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import choice
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.violations import ALL, TYPE_LABELS, ViolationsState

S = ViolationsState
STATUS_COLOURS = {"open": "red", "waived": "amber", "resolved": "green"}


def _status(row: rx.Var) -> rx.Component:
    return rx.badge(row["status"], variant="soft", class_name="violation-status",
                    color_scheme=rx.match(row["status_key"], ("open", "red"), ("waived", "amber"), "green"))


def _decide(row: rx.Var) -> rx.Component:
    return rx.cond(
        S.can_decide & (row["status_key"] == "open"),
        rx.hstack(rx.button("Waive", size="1", variant="soft", color_scheme="amber", class_name="violation-waive",
                            on_click=S.ask(row["id"], "waive")),
                  rx.button("Resolve", size="1", variant="soft", color_scheme="green",
                            class_name="violation-resolve", on_click=S.ask(row["id"], "resolve")), spacing="2"),
        rx.text(row["decision"], size="1", color_scheme="gray"),
    )


def violation_table() -> rx.Component:
    head = ("Last seen", "Policy", "Entity", "Rule and why", "Action", "Status", "Decision")
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in head])),
        rx.table.body(rx.foreach(S.sorted_rows, lambda row: rx.table.row(
            rx.table.cell(rx.vstack(rx.text(row["time"], style=styles.MONO), rx.text(row["ago"], size="1",
                                                                                      color_scheme="gray"),
                                    spacing="0")),
            rx.table.cell(rx.vstack(rx.text(row["policy"], weight="medium"),
                                    rx.text(row["severity"], " severity", size="1", color_scheme="gray"), spacing="0")),
            rx.table.cell(row["entity"]),
            rx.table.cell(rx.vstack(rx.text(row["rule"], weight="medium"),
                                    rx.text(row["condition"], style=styles.MONO),
                                    rx.text(row["reason"], size="1", color_scheme="gray"), spacing="1",
                                    max_width="28rem")),
            rx.table.cell(rx.vstack(rx.text(row["action"]), rx.badge(row["effect"], variant="outline",
                                    color_scheme=rx.cond(row["effect"] == "Blocked", "red", "gray")),
                                    rx.text(row["occurrences"], size="1", color_scheme="gray"), spacing="1")),
            rx.table.cell(_status(row)),
            rx.table.cell(_decide(row)),
            class_name="violation-row", data_policy=row["policy"], data_status=row["status_key"],
        ))),
        variant="surface", size="2", width="100%", id="violations-table",
    )
    return rx.vstack(
        rx.cond(S.rows.length() == 0,
                empty_state("No violations", "Nothing matches: policies record one when an entity fails a rule."),
                rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%")),
        pagination(S), width="100%", spacing="0",
    )


def filter_bar() -> rx.Component:
    f = S.filters
    return rx.form(
        rx.hstack(
            choice({ALL: "Any status", "open": "Open", "waived": "Waived", "resolved": "Resolved"}, name="status",
                   default_value=f["status"], id="violations-status", aria_label="Status"),
            choice({ALL: "Any entity"} | TYPE_LABELS, name="entity_type", default_value=f["entity_type"],
                   id="violations-type", aria_label="Entity type"),
            choice({ALL: "Any severity", "low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"},
                   name="severity", default_value=f["severity"], id="violations-severity", aria_label="Severity"),
            rx.button("Filter", type="submit", variant="soft", id="violations-filter"),
            rx.cond(f["policy"] != "", rx.button("Every policy", variant="ghost", on_click=S.clear_policy,
                                                 type="button")),
            spacing="2", align="center", wrap="wrap",
        ),
        on_submit=S.apply_filters, reset_on_submit=False, key=f.to_string(),
    )


def decision_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.decision == "waive", "Waive this violation", "Resolve this violation")),
            rx.dialog.description(S.decision_subject, size="2"),
            rx.text(rx.cond(S.decision == "waive",
                            "A waiver accepts the risk: this entity passes this policy (every rule, every action) "
                            "until the policy's rules change. It is audited with your reason.",
                            "Resolving says the problem is fixed; if the entity fails again, a new violation opens."),
                    size="2", color_scheme="gray", margin_y="0.5rem"),
            rx.text_area(value=S.decision_reason, on_change=S.set_reason, placeholder="Reason (kept and audited)",
                         rows="3", width="100%", id="decision-reason"),
            rx.cond(S.decision_error != "", rx.text(S.decision_error, size="1", color_scheme="red")),
            rx.hstack(rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.cancel),
                      rx.button(rx.cond(S.decision == "waive", "Waive", "Resolve"), on_click=S.confirm,
                                disabled=S.busy, id="decision-confirm"),
                      justify="end", spacing="2", margin_top="1rem"),
        ),
        open=S.deciding != "",
        on_open_change=lambda _open: S.cancel(),
    )


def violations_view() -> rx.Component:
    return rx.vstack(
        page_header("Each entity that failed a policy rule: blocked actions and audit-mode findings. Admins waive "
                    "(accept the risk) or resolve them."),
        filter_bar(),
        rx.card(violation_table(), width="100%"),
        decision_dialog(),
        spacing="4", width="100%",
    )


@protected_page(routes.VIOLATIONS, "Violations", on_load=[ViolationsState.load])
def violations() -> rx.Component:
    return rx.cond(S.allowed, violations_view(), not_permitted("the violations"))
