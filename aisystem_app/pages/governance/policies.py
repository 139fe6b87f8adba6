"""/governance/policies: the policies list, the editor (CEL rules with validation messages at their line and
column) and the "test against entity" panel."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.data_table import Column, data_table, pagination
from aisystem_app.components.feedback import not_permitted
from aisystem_app.components.forms import choice, field_label
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.policies import (
    ALL,
    ENFORCEMENT_LABELS,
    KIND_LABELS,
    SEVERITY_LABELS,
    STAGES,
    PoliciesState,
)

S = PoliciesState
CODE = {**styles.MONO, "white_space": "pre", "overflow_x": "auto"}
HELP = ("Rules are CEL expressions that must be true: `entity` is the entity's document (as the REST API returns "
        "it), `user` the acting user (role, department, project, clearanceLevel, costCenter), `action` the action "
        "(name, toStage, fromStage, details). A rule that errors — a missing attribute, a type mismatch — fails: "
        "guard optional values with has(entity.x).")


def _name(value: rx.Var[str]) -> rx.Component:
    return rx.link(value, cursor="pointer", class_name="policy-name", weight="medium")


def _enforcement(value: rx.Var[str]) -> rx.Component:
    return rx.badge(value, color_scheme=rx.cond(value == "Enforce", "red", "blue"), variant="soft")


COLUMNS = (
    Column("name", "Policy", render=_name),
    Column("kind", "Kind"),
    Column("targets", "Governs"),
    Column("enforcement", "Mode", render=_enforcement, width="7rem"),
    Column("severity", "Severity", width="7rem"),
    Column("enabled", "Enabled", width="6rem"),
    Column("open", "Open violations", sort_key="open_sort", width="9rem"),
)


def policy_table() -> rx.Component:
    """The policies; a click on a row opens it in the editor."""
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(c.label, width=c.width) for c in COLUMNS])),
        rx.table.body(rx.foreach(S.sorted_rows, lambda row: rx.table.row(
            *[rx.table.cell(c.render(row[c.key].to(str)) if c.render else rx.text(row[c.key])) for c in COLUMNS],
            on_click=S.open_policy(row["id"]), cursor="pointer", class_name="policy-row",
            data_policy=row["name"]))),
        variant="surface", size="2", width="100%", id="policies-table",
    )
    return rx.cond(S.rows.length() == 0,
                   data_table(S, COLUMNS, empty_title="No policies", table_id="policies-empty",
                              empty_description="Write one with “New policy”."),
                   rx.vstack(rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%"),
                             pagination(S, previous="Previous", following="Next"), width="100%", spacing="0"))


def search_bar() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="q", placeholder="Search by name", default_value=S.filters["q"], max_length=120,
                     id="policies-q", width="16rem"),
            choice({ALL: "Any kind"} | KIND_LABELS, name="kind", default_value=S.filters["kind"],
                   id="policies-kind", aria_label="Kind"),
            rx.button("Search", type="submit", variant="soft"),
            spacing="2", align="center", wrap="wrap",
        ),
        on_submit=S.search, reset_on_submit=False, key=S.filters.to_string(),
    )


def _problem(message: rx.Var[str], line: rx.Var[str], caret: rx.Var[str], test_id: str) -> rx.Component:
    """A validation message under its expression: the line it is on and a caret at its column."""
    return rx.cond(message != "", rx.box(
        rx.text(line, style=CODE, color=rx.color("gray", 11)),
        rx.text(caret, style=CODE, color=rx.color("red", 10), weight="bold"),
        rx.text(message, size="1", color_scheme="red"),
        class_name=test_id, role="alert", padding="0.4rem", border_radius="4px",
        background_color=rx.color("red", 2), width="100%",
    ))


def rule_editor(rule: rx.Var, index: rx.Var[int]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.input(value=rule["name"], on_change=lambda v: S.set_rule(index, "name", v), placeholder="Rule name",
                         max_length=120, width="20rem", class_name="rule-name", aria_label="Rule name"),
                rx.spacer(),
                rx.button(rx.icon("trash-2", size=14), "Remove", variant="ghost", color_scheme="gray", size="1",
                          on_click=S.remove_rule(index), disabled=S.rules.length() <= 1, type="button"),
                width="100%", align="center",
            ),
            rx.text_area(value=rule["expression"], on_change=lambda v: S.set_rule(index, "expression", v),
                         placeholder="entity.metrics.accuracy >= 0.9", rows="3", width="100%", style=styles.MONO,
                         class_name="rule-expression", aria_label="CEL expression", spell_check=False),
            _problem(rule["error"], rule["error_line"], rule["caret"], "rule-problem"),
            rx.input(value=rule["message"], on_change=lambda v: S.set_rule(index, "message", v),
                     placeholder="What to tell the user when it fails (optional)", max_length=500, width="100%",
                     class_name="rule-message", aria_label="Message when it fails"),
            spacing="2", width="100%",
        ),
        width="100%", class_name="rule-card",
    )


def _checks(options: rx.Var, on_toggle, group: str) -> rx.Component:  # noqa: ANN001
    return rx.hstack(rx.foreach(options, lambda o: rx.checkbox(
        o["label"], checked=o["on"] == "1", on_change=lambda _v: on_toggle(o["value"]),
        data_value=o["value"], class_name=group)), spacing="4", wrap="wrap")


def editor_form() -> rx.Component:
    return rx.vstack(
        rx.grid(
            rx.vstack(field_label("Name", "policy-name"),
                      rx.input(value=S.name, on_change=lambda v: S.set_text("name", v), id="policy-name",
                               max_length=120, width="100%"), spacing="1", width="100%"),
            rx.vstack(field_label("Kind", "policy-kind"),
                      rx.select.root(rx.select.trigger(id="policy-kind", width="100%"), rx.select.content(
                          *[rx.select.item(v, value=k) for k, v in KIND_LABELS.items()]),
                          value=S.kind, on_change=lambda v: S.set_text("kind", v)), spacing="1", width="100%"),
            rx.vstack(field_label("Severity", "policy-severity"),
                      rx.select.root(rx.select.trigger(id="policy-severity", width="100%"), rx.select.content(
                          *[rx.select.item(v, value=k) for k, v in SEVERITY_LABELS.items()]),
                          value=S.severity, on_change=lambda v: S.set_text("severity", v)), spacing="1", width="100%"),
            rx.vstack(field_label("Mode", "policy-enforcement"),
                      rx.select.root(rx.select.trigger(id="policy-enforcement", width="100%"), rx.select.content(
                          *[rx.select.item(v, value=k) for k, v in ENFORCEMENT_LABELS.items()]),
                          value=S.enforcement, on_change=lambda v: S.set_text("enforcement", v)),
                      spacing="1", width="100%"),
            columns=rx.breakpoints(initial="1", md="4"), spacing="3", width="100%",
        ),
        rx.text_area(value=S.description, on_change=lambda v: S.set_text("description", v), rows="2",
                     placeholder="What the policy is for", width="100%", id="policy-description",
                     aria_label="Description"),
        rx.text("Governs", size="2", weight="medium"),
        _checks(S.target_options, S.toggle_target, "policy-target"),
        rx.text("Checks these actions (none ticked: every action on what it governs)", size="2", weight="medium"),
        _checks(S.action_options, S.toggle_action, "policy-action"),
        rx.hstack(rx.switch(checked=S.enabled, on_change=S.set_enabled, id="policy-enabled"),
                  rx.text("Enabled: gates actions as they happen", size="2"), align="center"),
        field_label("Applies when (optional CEL guard)", "policy-when"),
        rx.text_area(value=S.applies_when, on_change=lambda v: S.set_text("applies_when", v), rows="2",
                     placeholder='action.toStage == "production"', width="100%", style=styles.MONO,
                     id="policy-when", spell_check=False),
        _problem(S.when_error, S.when_line, S.when_caret, "when-problem"),
        rx.hstack(rx.text("Rules (each must be true)", size="2", weight="medium"), rx.spacer(),
                  rx.button(rx.icon("plus", size=14), "Add rule", variant="soft", size="1", on_click=S.add_rule,
                            type="button", id="add-rule"), width="100%", align="center"),
        rx.text(HELP, size="1", color_scheme="gray"),
        rx.foreach(S.rules, rule_editor),
        spacing="3", width="100%",
    )


def problems_box() -> rx.Component:
    return rx.cond(
        S.checked,
        rx.cond(S.problems.length() > 0,
                rx.callout(rx.vstack(rx.foreach(S.problems, lambda p: rx.text(p, size="2")), spacing="1"),
                           icon="circle-alert", color_scheme="red", width="100%", id="policy-problems"),
                rx.callout("Every expression compiles and names only known attributes.", icon="circle-check",
                           color_scheme="green", width="100%", id="policy-valid")),
    )


def editor_actions() -> rx.Component:
    return rx.hstack(
        rx.button(rx.icon("check-check", size=14), "Validate", variant="soft", on_click=S.validate, id="policy-validate"),
        rx.cond(S.can_write, rx.button(rx.cond(S.saving, rx.spinner(size="2"), rx.icon("save", size=14)), "Save",
                                       on_click=S.save, disabled=S.saving, id="policy-save")),
        rx.cond(S.can_write & ~S.is_new, rx.button(rx.icon("play", size=14), "Apply to existing entities",
                                                   variant="soft", on_click=S.enforce_now, id="policy-enforce")),
        rx.spacer(),
        rx.cond(S.can_write & ~S.is_new, rx.button(rx.icon("trash-2", size=14), "Delete", variant="soft",
                                                   color_scheme="red", on_click=S.delete, id="policy-delete")),
        rx.button("Close", variant="ghost", on_click=S.close_editor, id="policy-close"),
        width="100%", wrap="wrap", spacing="2",
    )


def test_panel() -> rx.Component:
    """Dry-run the form as it stands against one entity: each rule's result."""
    return rx.card(
        rx.vstack(
            rx.heading("Test against an entity", size="3"),
            rx.hstack(
                rx.select.root(rx.select.trigger(placeholder="Entity type", id="test-type"), rx.select.content(
                    rx.foreach(S.test_type_options, lambda o: rx.select.item(o["label"], value=o["value"]))),
                    value=S.test_type, on_change=S.choose_test_type),
                rx.select.root(rx.select.trigger(placeholder="Entity", id="test-entity", min_width="16rem"),
                               rx.select.content(rx.foreach(S.choices, lambda c: rx.select.item(c["name"],
                                                                                                 value=c["id"]))),
                               value=S.test_entity, on_change=lambda v: S.set_test("entity", v)),
                rx.select.root(rx.select.trigger(id="test-action"), rx.select.content(
                    rx.foreach(S.test_action_options, lambda o: rx.select.item(o["label"], value=o["value"]))),
                    value=S.test_action, on_change=lambda v: S.set_test("action", v)),
                rx.cond((S.test_action == "model.promote") | (S.test_action == "model.rollback"),
                        choice({s: f"To {s}" for s in STAGES}, value=S.test_stage,
                               on_change=lambda v: S.set_test("stage", v), id="test-stage", aria_label="Target stage")),
                rx.input(placeholder="As user (username; default you)", value=S.test_as,
                         on_change=lambda v: S.set_test("as", v), width="14rem", id="test-as"),
                rx.button(rx.cond(S.testing, rx.spinner(size="2"), rx.icon("flask-conical", size=14)), "Run test",
                          on_click=S.run_test, disabled=S.testing, id="policy-test"),
                spacing="2", wrap="wrap", align="center",
            ),
            rx.cond(S.test_summary != "", rx.callout(
                S.test_summary, id="test-summary", width="100%", data_verdict=S.test_verdict,
                icon=rx.cond(S.test_verdict == "failing", "circle-x", "circle-check"),
                color_scheme=rx.cond(S.test_verdict == "failing", "red",
                                     rx.cond(S.test_verdict == "compliant", "green", "gray")))),
            rx.cond(S.test_context != "", rx.text(S.test_context, size="1", color_scheme="gray")),
            rx.cond(S.test_rules.length() > 0, rx.table.root(
                rx.table.header(rx.table.row(rx.table.column_header_cell("Rule"),
                                             rx.table.column_header_cell("Condition"),
                                             rx.table.column_header_cell("Result"),
                                             rx.table.column_header_cell("Why"))),
                rx.table.body(rx.foreach(S.test_rules, lambda r: rx.table.row(
                    rx.table.cell(r["name"]), rx.table.cell(rx.text(r["expression"], style=styles.MONO)),
                    rx.table.cell(rx.badge(r["result"], color_scheme=rx.cond(r["result"] == "Passed", "green", "red"))),
                    rx.table.cell(rx.text(r["reason"], size="1")), class_name="test-rule"))),
                width="100%", variant="surface", id="test-rules")),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(rx.cond(S.is_new, "New policy", S.name), size="4", id="policy-editor-title"),
                      rx.cond(S.revision != "", rx.badge("Revision ", S.revision, variant="soft", color_scheme="gray")),
                      align="center", spacing="2"),
            editor_form(),
            problems_box(),
            editor_actions(),
            test_panel(),
            spacing="4", width="100%",
        ),
        width="100%", id="policy-editor",
    )


def policies_view() -> rx.Component:
    return rx.vstack(
        page_header("Policies gate promotions, deployments, training, sharing and publishing: enforced ones block "
                    "the action, audit ones record a violation.",
                    rx.button(rx.icon("plus", size=14), "New policy", on_click=S.new_policy, id="policy-new")),
        rx.cond(S.editing != "", editor()),
        search_bar(),
        rx.card(policy_table(), width="100%"),
        spacing="4", width="100%",
    )


@protected_page(routes.POLICIES, "Policies", on_load=[PoliciesState.load])
def policies() -> rx.Component:
    return rx.cond(S.allowed, policies_view(), not_permitted("the policies"))
