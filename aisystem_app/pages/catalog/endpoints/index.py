"""/catalog/endpoints: endpoints with status, deployed version(s), traffic split, p95 latency, error rate
and a sparkline of the last hour's requests; "New endpoint" for ml_ops."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.data_table import Column, _header, table_frame
from aisystem_app.components.dialogs import dialog_frame, form_actions
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import field_label, form_error, form_field
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.pages.catalog.endpoints.common import endpoint_status, var_choice
from aisystem_app.state.catalog.endpoints.index import EndpointsState

S = EndpointsState

COLUMNS = (
    Column("name", "Endpoint and model"),
    Column("status_text", "Status", width="8rem"),
    Column("versions", "Deployed version"),
    Column("traffic", "Traffic split"),
    Column("p95", "p95 latency", sort_key="p95_sort"),
    Column("error_rate", "Error rate", sort_key="error_sort"),
    Column("requests", "Requests", sort_key="requests_sort"),
)


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.link(row["name"], href=row["href"], weight="medium", class_name="endpoint-link"),
            rx.text(row["model"], size="1", color_scheme="gray"), spacing="0")),
        rx.table.cell(endpoint_status(row["status"].to(str), class_name="endpoint-status")),
        rx.table.cell(rx.text(row["versions"], class_name="endpoint-version")),
        rx.table.cell(rx.text(row["traffic"], class_name="endpoint-traffic", min_width="7rem")),
        rx.table.cell(rx.text(row["p95"], white_space="nowrap")),
        rx.table.cell(rx.text(row["error_rate"], white_space="nowrap")),
        rx.table.cell(rx.hstack(
            rx.image(src=row["spark"], alt=row["spark_label"], title=row["spark_label"], width="96px",
                     height="24px"),
            rx.text(row["requests"], size="2", white_space="nowrap"), align="center", spacing="2")),
        class_name="endpoint-row", data_endpoint=row["id"], data_name=row["name"],
    )


def table() -> rx.Component:
    body = rx.table.root(
        rx.table.header(rx.table.row(*[_header(S, c) for c in COLUMNS])),
        rx.table.body(rx.foreach(S.sorted_rows, _row)),
        variant="surface", size="2", width="100%", id="endpoints-table",
    )
    empty = empty_state("No endpoints yet", "An endpoint serves a registered model version over HTTP. ML ops "
                        "engineers create one with “New endpoint”.", icon="server")
    return table_frame(S, body, empty)


def new_dialog() -> rx.Component:
    form = rx.form(
        rx.vstack(
            form_field("Name", "name", "", placeholder="e.g. churn-scorer", max_length=120),
            form_field("Description (optional)", "description", "", max_length=2000),
            rx.vstack(field_label("Model", "new-model"),
                      rx.cond(S.model_options.length() > 0,
                              var_choice(S.model_options, value=S.new_model, on_change=S.pick_model,
                                         trigger_id="new-model"),
                              rx.text("No registered model has a version this platform can serve (a model trained "
                                      "here). The endpoint is created without one.", size="2", color_scheme="gray")),
                      spacing="1", width="100%"),
            rx.cond(S.new_model != "", rx.vstack(
                field_label("Version", "new-version"),
                var_choice(S.version_options, value=S.new_version, on_change=S.pick_version,
                           trigger_id="new-version"),
                spacing="1", width="100%")),
            form_error(S.new_error),
            form_actions("Create and deploy", busy=S.saving, submit_id="new-endpoint-submit",
                         on_cancel=S.open_new(False)),
            spacing="3", width="100%"),
        on_submit=S.create, reset_on_submit=False, id="new-endpoint-form")
    return dialog_frame("New endpoint", form, open=S.new_open, on_open_change=S.open_new,
                        dialog_id="new-endpoint", description="Serve a registered model version; applications "
                        "call it with a model key.")


def endpoints_list() -> rx.Component:
    return rx.vstack(
        page_header(
            "Registered models served over HTTP: what each serves and how its traffic is split; latency, error "
            "rate and requests are over the last hour.",
            rx.cond(S.can_create, rx.button(rx.icon("plus", size=16), "New endpoint", on_click=S.open_new(True),
                                            id="new-endpoint-open")),
        ),
        rx.card(table(), width="100%"),
        new_dialog(),
        spacing="4", width="100%",
    )


@protected_page(routes.ENDPOINTS, "Endpoints", on_load=[EndpointsState.load])
def endpoints() -> rx.Component:
    return rx.cond(S.allowed, endpoints_list(), not_permitted("endpoints"))
