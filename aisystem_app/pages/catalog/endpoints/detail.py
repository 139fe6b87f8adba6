"""/catalog/endpoints/[endpoint_id]: one endpoint: status and deployment controls, traffic (canary slider,
blue-green switch), "Try it" with the prediction and its explanation chart, model keys, the prediction log's
tail and metrics charts. Tabs in the URL."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import chart
from aisystem_app.components.dialogs import dialog_frame, form_actions
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.forms import field_label, form_field
from aisystem_app.components.layout import protected_page
from aisystem_app.components.tabs import page_tabs
from aisystem_app.pages.catalog.endpoints.common import endpoint_status, var_choice
from aisystem_app.state.catalog.endpoints.detail import EndpointState
from aisystem_app.state.catalog.endpoints.view import ENDPOINTS

S = EndpointState


def _pairs(items: rx.Var, **props) -> rx.Component:
    return rx.data_list.root(rx.foreach(items, lambda p: rx.data_list.item(
        rx.data_list.label(p["label"]), rx.data_list.value(p["value"]))), **props)


def _table(headers: tuple[str, ...], rows: rx.Var, row: callable, table_id: str) -> rx.Component:
    return rx.scroll_area(rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, row)), size="1", variant="surface", width="100%", id=table_id),
        type="auto", scrollbars="horizontal", width="100%")


def header() -> rx.Component:
    button = {"size": "2", "variant": "soft", "disabled": S.busy}
    return rx.vstack(
        rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("Endpoints"), align="center", spacing="1"),
                href=ENDPOINTS, size="2"),
        rx.hstack(
            rx.heading(S.name, size="6", id="endpoint-name", word_break="break-word"),
            endpoint_status(S.status, size="2", id="endpoint-status"),
            rx.spacer(),
            rx.cond(S.may_write, rx.hstack(
                rx.button(rx.icon("rocket", size=16), rx.cond(S.status == "running", "Deploy another version",
                                                              "Deploy"),
                          on_click=S.open_deploy(True), id="deploy-open", **button),
                rx.cond(S.status == "running", rx.button(rx.icon("power", size=16), "Undeploy", on_click=S.undeploy,
                                                         color_scheme="red", id="undeploy", **button)),
                spacing="2", wrap="wrap")),
            width="100%", align="center", wrap="wrap", spacing="3"),
        rx.cond(S.description != "", rx.text(S.description, size="2", color_scheme="gray")),
        rx.text(S.model_name, " · ", S.deployed, size="2", id="endpoint-deployed"),
        spacing="2", width="100%")


# --- overview: facts, traffic, scaling ----------------------------------------------------------------


def traffic_card() -> rx.Component:
    share = lambda s: rx.table.row(rx.table.cell(s.version), rx.table.cell(s.role),  # noqa: E731
                                   rx.table.cell(s.percent), class_name="share-row")
    controls = rx.vstack(
        rx.heading("Split traffic", size="3"),
        rx.cond(S.candidate_options.length() > 0, rx.vstack(
            rx.hstack(
                rx.vstack(field_label("Second version", "candidate"),
                          var_choice(S.candidate_options, value=S.candidate, on_change=S.set_candidate,
                                     trigger_id="candidate"), spacing="1", min_width="14rem"),
                rx.vstack(field_label("Share of requests to it (%)", "canary-percent"),
                          rx.hstack(rx.slider(value=[S.canary_percent], min=0, max=100, step=1,
                                              on_change=S.set_percent, width="12rem", id="canary-slider",
                                              aria_label="Canary share (%)"),
                                    rx.input(value=S.canary_percent.to(str), on_change=S.set_percent, type="number",
                                             min=0, max=100, width="5rem", id="canary-percent"),
                                    rx.text("%", size="2"), align="center", spacing="3"),
                          spacing="1"),
                spacing="4", wrap="wrap", align="end"),
            rx.hstack(
                rx.button(rx.icon("split", size=16), "Set canary", on_click=S.apply_canary, disabled=S.busy,
                          id="apply-canary"),
                rx.tooltip(rx.button(rx.icon("copy", size=16), "Shadow it", on_click=S.apply_shadow, variant="soft",
                                     disabled=S.busy, id="apply-shadow"),
                           content="The second version gets a copy of every request; its answers are only logged"),
                spacing="2", wrap="wrap"),
            spacing="3", width="100%"),
            rx.text("Only one servable version of this model exists: register another (train it again) to run a "
                    "canary.", size="2", color_scheme="gray")),
        rx.cond(S.has_candidate, rx.hstack(
            rx.tooltip(rx.button(rx.icon("arrow-left-right", size=16), "Blue-green switch", on_click=S.switch,
                                 color_scheme="amber", variant="soft", disabled=S.busy, id="switch"),
                       content="The second version answers everything at once; the current one stays loaded, so "
                               "switching again rolls back"),
            rx.button("Stop splitting", on_click=S.single, variant="soft", color_scheme="gray", disabled=S.busy,
                      id="single"),
            spacing="2", wrap="wrap")),
        spacing="3", width="100%")
    return rx.card(rx.vstack(
        rx.heading("Traffic", size="4"),
        rx.text(S.traffic, size="2", id="traffic-text"),
        rx.cond(S.shares.length() > 0,
                _table(("Version", "Role", "Share of requests"), S.shares, share, "traffic-shares"),
                rx.text("Nothing deployed.", size="2", color_scheme="gray")),
        rx.cond(S.may_write & (S.status == "running"), controls),
        spacing="3", width="100%"), width="100%", id="traffic-card")


def scale_card() -> rx.Component:
    form = rx.form(rx.vstack(
        rx.hstack(
            form_field("Replicas", "replicas", "", type="number", default_value=S.replicas, min=1, max=64),
            form_field("Minimum", "minReplicas", "", type="number", default_value=S.min_replicas, min=1, max=64),
            form_field("Maximum", "maxReplicas", "", type="number", default_value=S.max_replicas, min=1, max=64),
            spacing="3", width="100%"),
        rx.hstack(rx.checkbox("Autoscale between minimum and maximum", name="autoScaling",
                              default_checked=S.auto_scaling, id="autoScaling"), width="100%"),
        form_field("Target busy share (%)", "targetUtilization", "", type="number",
                   default_value=S.target_utilization, min=1, max=100),
        rx.button("Save scaling", type="submit", disabled=S.busy, id="scale-submit"),
        spacing="3", width="100%", align="start"), on_submit=S.scale, reset_on_submit=False, id="scale-form",
        key=S.replicas + S.min_replicas + S.max_replicas)
    return rx.card(rx.vstack(
        rx.heading("Scaling", size="4"),
        rx.text("A replica is one inference thread per served version in each web process; with autoscaling each "
                "process adds one above the target busy share and stops one below half of it.", size="2",
                color_scheme="gray"),
        form, spacing="3", width="100%"), width="100%")


def overview() -> rx.Component:
    return rx.grid(
        rx.vstack(traffic_card(), rx.cond(S.may_write, scale_card()), spacing="4", width="100%", min_width="0"),
        rx.card(rx.vstack(rx.heading("Endpoint", size="4"), _pairs(S.facts, id="endpoint-facts"), spacing="3"),
                width="100%"),
        columns=rx.breakpoints(initial="1", lg="minmax(0, 3fr) minmax(18rem, 2fr)"), spacing="4", width="100%")


# --- try it -------------------------------------------------------------------------------------------


def _input(column: rx.Var) -> rx.Component:
    control = rx.cond(
        column.options.length() > 0,
        rx.select.root(rx.select.trigger(width="100%", id="try-" + column.name),
                       rx.select.content(rx.foreach(column.options, lambda o: rx.select.item(o, value=o))),
                       name=column.name, default_value=column.value),
        rx.input(name=column.name, default_value=column.value, id="try-" + column.name, width="100%",
                 input_mode=rx.cond(column.kind == "numeric", "decimal", "text"),
                 placeholder=rx.cond(column.kind == "numeric", "a number", "text")),
    )
    return rx.vstack(rx.text(column.name, as_="label", size="2", weight="medium", style=styles.MONO,
                             custom_attrs={"htmlFor": "try-" + column.name}),
                     control, spacing="1", width="100%", class_name="try-field")


def result_card() -> rx.Component:
    bar = lambda p: rx.hstack(  # noqa: E731
        rx.text(p.label, size="2", min_width="6rem", weight=rx.cond(p.top, "bold", "regular")),
        rx.box(rx.box(width=p.width + "%", height="100%", background_color=rx.color("accent", 9),
                      border_radius="9999px"),
               flex="1", height="8px", background_color=rx.color("gray", 4), border_radius="9999px",
               overflow="hidden"),
        rx.text(p.percent, size="2", min_width="4rem", text_align="right"),
        width="100%", align="center", spacing="3", class_name="probability")
    return rx.card(rx.vstack(
        rx.heading("Prediction", size="4"),
        rx.cond(S.predicted == "",
                rx.text("Fill in the inputs (or pick a stored example) and press Predict.", size="2",
                        color_scheme="gray"),
                rx.vstack(
                    rx.hstack(rx.text(rx.cond(S.task == "classification", "Class", "Value"), size="2",
                                      color_scheme="gray"),
                              rx.text(S.predicted, size="6", weight="bold", id="prediction"), align="baseline",
                              spacing="2"),
                    rx.text(S.answered_by, size="1", color_scheme="gray", id="answered-by"),
                    rx.cond(S.probabilities.length() > 0, rx.vstack(
                        rx.text("Probability of each class", size="2", weight="medium"),
                        rx.foreach(S.probabilities, bar), spacing="2", width="100%", id="probabilities")),
                    rx.divider(),
                    rx.heading("Why: contribution of each input", size="3"),
                    rx.text(S.explanation_note, size="1", color_scheme="gray"),
                    rx.cond(S.has_explanation, rx.box(chart(S.explanation), id="explain-chart", width="100%")),
                    spacing="3", width="100%")),
        spacing="3", width="100%"), width="100%", id="try-result")


def try_it() -> rx.Component:
    form = rx.form(rx.vstack(
        rx.grid(rx.foreach(S.columns, _input), columns=rx.breakpoints(initial="1", sm="2"), spacing="3",
                width="100%"),
        rx.button(rx.cond(S.busy, rx.spinner(size="2"), rx.icon("play", size=16)), "Predict and explain",
                  type="submit", disabled=S.busy, id="try-submit"),
        spacing="3", width="100%", align="start"), on_submit=S.predict, reset_on_submit=False, id="try-form",
        key=S.form_key.to(str))
    inputs = rx.card(rx.vstack(
        rx.hstack(rx.heading("Inputs", size="4"), rx.spacer(),
                  rx.cond(S.examples.length() > 0, rx.select(S.examples, value=S.example, on_change=S.pick_example,
                                                             id="try-example", size="2")),
                  width="100%", align="center", wrap="wrap"),
        rx.text("One field per input column of the deployed version; a stored example fills them in.", size="2",
                color_scheme="gray"),
        form, spacing="3", width="100%"), width="100%")
    ready = (S.status == "running") & (S.columns.length() > 0)
    return rx.cond(
        ~S.may_invoke,
        empty_state("Predicting needs the invoke permission", "Your role may read this endpoint but not call it.",
                    icon="lock"),
        rx.cond(ready,
                rx.grid(inputs, result_card(), columns=rx.breakpoints(initial="1", lg="2"), spacing="4",
                        width="100%"),
                empty_state("Nothing to try", "The endpoint is not serving a model right now.", icon="power-off")))


# --- metrics, logs, keys ------------------------------------------------------------------------------


def figure(label: str, value: rx.Var, figure_id: str) -> rx.Component:
    return rx.card(rx.vstack(rx.text(label, size="2", color_scheme="gray", weight="medium"),
                             rx.text(value, size="6", weight="bold", white_space="nowrap", id=figure_id),
                             spacing="1"), width="100%")


def metrics() -> rx.Component:
    return rx.vstack(
        rx.text("Last hour, from the prediction log (shadow copies left out).", size="2", color_scheme="gray"),
        rx.grid(figure("Requests", S.requests, "figure-requests"), figure("p50 latency", S.p50, "figure-p50"),
                figure("p95 latency", S.p95, "figure-p95"), figure("p99 latency", S.p99, "figure-p99"),
                figure("Error rate", S.error_rate, "figure-errors"),
                columns=rx.breakpoints(initial="2", md="5"), spacing="3", width="100%"),
        rx.cond(S.has_traffic,
                rx.grid(
                    rx.card(rx.vstack(rx.heading("Latency, 95th percentile", size="4"),
                                      rx.box(chart(S.latency_chart), id="latency-chart", width="100%"), spacing="2"),
                            width="100%"),
                    rx.card(rx.vstack(rx.heading("Requests per minute", size="4"),
                                      rx.box(chart(S.requests_chart), id="requests-chart", width="100%"), spacing="2"),
                            width="100%"),
                    columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
                empty_state("No requests in the last hour", "Charts appear once applications (or “Try it”) call "
                            "the endpoint.", icon="chart-line")),
        drift_card(),
        spacing="4", width="100%")


def drift_card() -> rx.Component:
    """The inputs of the last hour against the training statistics of the version that answered them."""
    row = lambda r: rx.table.row(  # noqa: E731
        rx.table.cell(rx.text(r["feature"], weight="medium")), rx.table.cell(r["kind"]),
        rx.table.cell(rx.text(r["measure"], size="2")),
        rx.table.cell(rx.badge(r["verdict"], color_scheme=rx.cond(r["verdict"] == "Drifted", "red", "green"))),
        class_name="drift-row", data_feature=r["feature"])
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Feature", "Kind", "Change", "Verdict")])),
        rx.table.body(rx.foreach(S.drift_rows, row)), variant="surface", size="1", width="100%")
    return rx.card(rx.vstack(
        rx.heading("Input drift", size="4"),
        rx.text(S.drift_note, size="2", color_scheme="gray", id="drift-note"),
        rx.cond(S.drift_rows.length() > 0, table),
        spacing="2", width="100%"), width="100%", id="drift-card")


def logs() -> rx.Component:
    row = lambda r: rx.table.row(  # noqa: E731
        rx.table.cell(rx.text(r["time"], white_space="nowrap")), rx.table.cell(r["version"]),
        rx.table.cell(r["role"]), rx.table.cell(r["rows"]), rx.table.cell(rx.text(r["latency"], white_space="nowrap")),
        rx.table.cell(rx.badge(r["outcome"], color_scheme=rx.cond(r["ok"] == "true", "green", "red"), variant="soft")),
        class_name="log-row")
    return rx.vstack(
        rx.text("The 50 most recent predictions, newest first.", size="2", color_scheme="gray"),
        rx.cond(S.logs.length() == 0,
                empty_state("No predictions yet", "Each prediction is logged with the version that answered.",
                            icon="list"),
                _table(("Time", "Version", "Answered as", "Rows", "Latency", "Outcome"), S.logs, row, "prediction-log")),
        spacing="3", width="100%")


def key_dialog() -> rx.Component:
    created = rx.vstack(
        rx.callout("Copy the key now: it is shown only once. Send it as the X-Model-Key header.", icon="key-round",
                   color_scheme="amber", size="1"),
        rx.hstack(rx.input(id="new-key-secret", read_only=True, width="100%", style=styles.MONO,
                           aria_label="The new model key"),
                  rx.button(rx.icon("copy", size=14), "Copy", size="2", variant="soft", id="copy-key",
                            on_click=[rx.call_script("navigator.clipboard.writeText("
                                                     "document.getElementById('new-key-secret').value)"),
                                      rx.toast.info("Key copied")]),
                  align="center", spacing="2", width="100%"),
        rx.hstack(rx.spacer(), rx.button("Done", on_click=S.open_key(False), id="key-done"), width="100%"),
        spacing="3", width="100%")
    form = rx.form(rx.vstack(
        form_field("Name", "keyName", "", placeholder="e.g. web shop", max_length=100),
        form_field("Expires after (days, empty: never)", "expiresInDays", "", type="number", min=1, max=3650),
        form_actions("Create key", busy=S.busy, submit_id="key-submit", on_cancel=S.open_key(False)),
        spacing="3", width="100%"), on_submit=S.create_key, reset_on_submit=False, id="key-form")
    return dialog_frame("New model key", rx.cond(S.key_created, created, form), open=S.key_open,
                        on_open_change=S.open_key, dialog_id="key-dialog",
                        description="A key for this endpoint only: predict, explain and batch predictions.")


def keys() -> rx.Component:
    row = lambda k: rx.table.row(  # noqa: E731
        rx.table.cell(rx.text(k["name"], weight="medium")), rx.table.cell(rx.code(k["prefix"])),
        rx.table.cell(rx.text(k["created"], white_space="nowrap")), rx.table.cell(k["last_used"]),
        rx.table.cell(k["expires"]),
        rx.table.cell(rx.badge(k["state"], color_scheme=rx.match(k["tone"], ("green", "green"), ("amber", "amber"),
                                                                 "gray"), variant="soft", class_name="key-state")),
        rx.table.cell(rx.cond(k["active"] == "true",
                              rx.button(rx.icon("ban", size=14), "Revoke", size="1", variant="soft", color_scheme="red",
                                        on_click=S.revoke_key(k["id"]), disabled=S.busy, class_name="revoke-key"))),
        class_name="key-row", data_name=k["name"])
    return rx.cond(
        S.may_write,
        rx.vstack(
            rx.hstack(rx.text("Applications send a model key as X-Model-Key; it works on this endpoint only.",
                              size="2", color_scheme="gray"), rx.spacer(),
                      rx.button(rx.icon("plus", size=16), "New key", on_click=S.open_key(True), id="key-open"),
                      width="100%", align="center", wrap="wrap"),
            rx.cond(S.keys.length() == 0, empty_state("No model keys", "Create one for each application that calls "
                                                      "this endpoint.", icon="key-round"),
                    _table(("Name", "Starts with", "Created", "Last used", "Expires", "State", ""), S.keys, row,
                           "model-keys")),
            key_dialog(), spacing="3", width="100%"),
        empty_state("Keys are managed by ML ops", "Managing model keys needs the endpoint write permission.",
                    icon="lock"))


def deploy_dialog() -> rx.Component:
    form = rx.form(rx.vstack(
        rx.vstack(field_label("Model", "deploy-model"),
                  var_choice(S.model_options, value=S.deploy_model, on_change=S.pick_deploy_model,
                             trigger_id="deploy-model"), spacing="1", width="100%"),
        rx.vstack(field_label("Version", "deploy-version"),
                  var_choice(S.deploy_options, value=S.deploy_choice, on_change=S.pick_deploy_choice,
                             trigger_id="deploy-version"), spacing="1", width="100%"),
        form_actions("Deploy", busy=S.busy, submit_id="deploy-submit", on_cancel=S.open_deploy(False)),
        spacing="3", width="100%"), on_submit=S.deploy, reset_on_submit=False, id="deploy-form")
    return dialog_frame("Deploy a model version", form, open=S.deploy_open, on_open_change=S.open_deploy,
                        dialog_id="deploy-dialog", description="The version is loaded and its hash checked before "
                        "it answers; a version that cannot be served is refused.")


TABS = [("overview", "Overview", overview), ("try", "Try it", try_it), ("metrics", "Metrics", metrics),
        ("logs", "Prediction log", logs), ("keys", "Keys", keys)]


def endpoint_page() -> rx.Component:
    return rx.vstack(header(), page_tabs(TABS, value=S.tab, on_change=S.choose_tab), deploy_dialog(),
                     spacing="4", width="100%")


@protected_page(routes.ENDPOINT, "Endpoint", on_load=[EndpointState.load])
def endpoint() -> rx.Component:
    return rx.cond(
        S.found,
        rx.cond(S.loading & (S.name == ""), loading_rows(), endpoint_page()),
        empty_state("Endpoint not found", "It may have been deleted, or the link is wrong. Open Endpoints to see "
                    "them all.", icon="server"),
    )
