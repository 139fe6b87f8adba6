"""/governance/compliance: scorecards per framework with a gauge, the chosen framework's controls failing
first with their evidence, the assessment history, attestations and sign-off requests. An internal
readiness assessment, not a certification."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.charts import plot
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.compliance import ComplianceState


def disclaimer() -> rx.Component:
    return rx.callout(ComplianceState.disclaimer, icon="info", color_scheme="gray", width="100%",
                      id="compliance-disclaimer")


def _card(card: rx.Var) -> rx.Component:
    chosen = ComplianceState.framework == card["id"]
    return rx.card(
        rx.vstack(
            rx.box(plot(card["gauge"]), width="100%"),
            rx.hstack(rx.text("Passing ", card["passed"], size="2", color_scheme="green"),
                      rx.text("Failing ", card["failed"], size="2", color_scheme="red"), spacing="3"),
            rx.text(card["controls"], size="1", color_scheme="gray"),
            rx.text(card["when"], size="1", color_scheme="gray"),
            rx.cond(card["certification"] != "", rx.badge("Sign-off ", card["certification"],
                                                          color_scheme=card["cert_color"].to(str))),
            rx.button("Controls", variant=rx.cond(chosen, "solid", "soft"), size="1",
                      on_click=ComplianceState.choose(card["id"]), id="framework-" + card["id"].to(str)),
            spacing="2", align="center", width="100%",
        ),
        width="100%",
        data_framework=card["id"],
        class_name="framework-card",
    )


def scorecards() -> rx.Component:
    return rx.grid(rx.foreach(ComplianceState.cards, _card),
                   columns=rx.breakpoints(initial="1", sm="2", lg="5"), spacing="3", width="100%",
                   id="compliance-scorecards")


def _control(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(row["status_label"], color_scheme=row["color"].to(str), variant="soft")),
        rx.table.cell(rx.text(row["id"], size="2", weight="medium")),
        rx.table.cell(rx.vstack(rx.text(row["title"], size="2", weight="medium"),
                                rx.text(row["kind"], size="1", color_scheme="gray"), spacing="0")),
        rx.table.cell(rx.vstack(rx.text(row["evidence"], size="2"),
                                rx.cond(row["detail"] != "", rx.text(row["detail"], size="1", color_scheme="gray")),
                                spacing="1")),
        rx.table.cell(rx.cond((row["manual"] != "") & ComplianceState.can_attest,
                              rx.button("Attest", size="1", variant="soft",
                                        on_click=ComplianceState.open_attest(row["id"])))),
        data_status=row["status"],
    )


def controls() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(ComplianceState.framework_name, " controls", size="4"),
                rx.spacer(),
                rx.cond(ComplianceState.can_certify & (ComplianceState.controls.length() > 0),
                        rx.button("Request sign-off", variant="soft", on_click=ComplianceState.request_signoff,
                                  disabled=ComplianceState.busy, id="compliance-certify")),
                width="100%", align="center",
            ),
            rx.text("Failing controls first, each with the evidence the newest assessment found.", size="2",
                    color_scheme="gray"),
            rx.cond(
                ComplianceState.controls.length() > 0,
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Status", "Control", "Title", "Evidence", "")])),
                    rx.table.body(rx.foreach(ComplianceState.controls, _control)),
                    size="1", width="100%", id="compliance-controls"),
                empty_state("Not assessed yet", "Run an assessment to score this framework.", icon="badge-check"),
            ),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def attest_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Attest ", ComplianceState.attest_control),
            rx.dialog.description("State what holds, who checked it and how. Attach evidence files through the "
                                  "API (POST /api/v1/governance/compliance/attestations). Valid for a year.",
                                  size="2"),
            rx.form(
                rx.vstack(
                    rx.text_area(name="statement", placeholder="e.g. Nightly backups to the offsite bucket; "
                                 "restore tested on 2026-11-30 by the ops on-call.", required=True, max_length=5000,
                                 rows="5", width="100%", id="attest-statement"),
                    rx.hstack(rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                                        on_click=ComplianceState.close_attest),
                              rx.button("Attest", type="submit", id="attest-submit"), justify="end", width="100%"),
                    spacing="3", width="100%",
                ),
                on_submit=ComplianceState.attest,
            ),
        ),
        open=ComplianceState.attest_control != "",
        on_open_change=lambda _open: ComplianceState.close_attest(),
    )


def history() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Assessment history", size="4"),
            rx.cond(ComplianceState.assessments > 0,
                    rx.box(plot(ComplianceState.history), width="100%",
                           id="compliance-history"),
                    empty_state("No assessments yet", icon="chart-line")),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def _certification(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["framework"], size="2")),
        rx.table.cell(rx.text(row["score"], size="2")),
        rx.table.cell(rx.badge(row["status_label"], color_scheme=row["color"].to(str), variant="soft")),
        rx.table.cell(rx.text(row["requested"], size="2")),
        rx.table.cell(rx.text(row["decision"], size="2")),
        rx.table.cell(rx.cond(
            (row["status"] == "pending") & ComplianceState.can_approve,
            rx.hstack(rx.button("Approve", size="1", color_scheme="green", variant="soft",
                                on_click=ComplianceState.decide(row["id"], "approve"), class_name="approve"),
                      rx.button("Reject", size="1", color_scheme="red", variant="soft",
                                on_click=ComplianceState.decide(row["id"], "reject")), spacing="2"))),
    )


def certifications() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Sign-off requests", size="4"),
            rx.text("An admin's approval is an internal sign-off of readiness, not a certification by an "
                    "accredited body.", size="2", color_scheme="gray"),
            rx.cond(ComplianceState.certifications.length() > 0,
                    rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Framework", "Score", "Status", "Requested", "Decision", "")])),
                        rx.table.body(rx.foreach(ComplianceState.certifications, _certification)), size="1",
                        width="100%", id="compliance-certifications"),
                    rx.text("No requests yet.", size="2", color_scheme="gray")),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def console() -> rx.Component:
    return rx.vstack(
        page_header("How ready the platform is for each framework, from its own state and attested evidence.",
                    rx.cond(ComplianceState.can_assess,
                            rx.button(rx.cond(ComplianceState.busy, rx.spinner(size="2"), rx.icon("play", size=16)),
                                      "Run assessment", on_click=ComplianceState.assess,
                                      disabled=ComplianceState.busy, id="compliance-assess"))),
        disclaimer(),
        rx.cond(ComplianceState.message != "",
                rx.callout(ComplianceState.message, icon="circle-check", color_scheme="green", width="100%",
                           id="compliance-message")),
        scorecards(),
        controls(),
        attest_dialog(),
        rx.grid(history(), certifications(), columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
        spacing="4",
        width="100%",
    )


@protected_page(routes.COMPLIANCE, "Compliance", on_load=[ComplianceState.load])
def compliance() -> rx.Component:
    """The compliance console, for holders of `compliance:read`."""
    return rx.cond(ComplianceState.allowed, console(), not_permitted("compliance"))
