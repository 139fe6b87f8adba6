"""/training/jobs/[job_id]: one job live: status, progress and time left, curves, logs, checkpoints,
resources used, the controls the user may use now, and the registered model version when done."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import chart
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.layout import protected_page
from aisystem_app.pages.training.common import job_status
from aisystem_app.state.training.detail import TrainingJobState
from aisystem_app.state.training.view import JOBS

S = TrainingJobState


def _pairs(items: rx.Var, **props) -> rx.Component:
    return rx.data_list.root(rx.foreach(items, lambda p: rx.data_list.item(
        rx.data_list.label(p["label"]), rx.data_list.value(p["value"]))), **props)


def controls() -> rx.Component:
    button = {"size": "2", "variant": "soft", "disabled": S.busy}
    return rx.hstack(
        rx.cond(S.can_pause, rx.button(rx.icon("pause", size=16), "Pause", on_click=S.pause, id="job-pause", **button)),
        rx.cond(S.can_resume, rx.button(rx.icon("play", size=16), "Resume", on_click=S.resume, id="job-resume",
                                        color_scheme="green", **button)),
        rx.cond(S.can_stop, rx.tooltip(rx.button(rx.icon("circle-stop", size=16), "Stop and register",
                                                 on_click=S.stop, id="job-stop", color_scheme="amber", **button),
                                       content="End now and register the best checkpoint so far")),
        rx.cond(S.can_cancel, rx.tooltip(rx.button(rx.icon("x", size=16), "Cancel", on_click=S.cancel,
                                                   id="job-cancel", color_scheme="red", **button),
                                         content="End and discard its checkpoints")),
        spacing="2", wrap="wrap",
    )


def status_card() -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(
            job_status(S.status, size="2", id="job-status"),
            rx.text(S.status_words, size="2", color_scheme="gray", id="job-status-words"),
            rx.cond(S.live, rx.badge(rx.spinner(size="1"), "Live: updating every few seconds", color_scheme="blue",
                                     id="job-live")),
            rx.spacer(), controls(), width="100%", align="center", wrap="wrap"),
        rx.progress(value=S.progress, max=100, width="100%", id="job-progress"),
        rx.hstack(rx.text(S.progress, "% · ", S.epoch_text, size="2"), rx.spacer(),
                  rx.text(S.eta, size="2", color_scheme="gray", id="job-eta"), width="100%"),
        rx.cond(S.error != "", rx.callout(S.error, icon="triangle-alert", color_scheme="red", size="1",
                                          id="job-error")),
        rx.cond(S.model_href != "", rx.callout(
            rx.hstack(rx.text("Registered: "), rx.link(S.model_text, href=S.model_href, id="model-version-link",
                                                      weight="medium")),
            icon="package-check", color_scheme="green", size="1")),
        spacing="3", width="100%"), width="100%", id="job-status-card", data_status=S.status)


def curves_card() -> rx.Component:
    return rx.card(rx.vstack(
        rx.heading("Loss and metrics", size="4"),
        rx.text("Per training step; thin line: each step's training batch, markers: each epoch on the training and "
                "validation splits.", size="2", color_scheme="gray"),
        rx.cond(S.has_curves,
                rx.grid(rx.box(chart(S.loss_curves), id="loss-chart", min_width="0"),
                        rx.cond(S.has_quality, rx.box(chart(S.quality_curves), id="quality-chart", min_width="0")),
                        columns=rx.breakpoints(initial="1", md="2"), spacing="3", width="100%"),
                empty_state("No metrics yet", "Curves appear after the first training steps; this page updates "
                            "itself while the job trains.", icon="chart-line")),
        spacing="3", width="100%"), width="100%", id="curves-card")


def logs_card() -> rx.Component:
    line = lambda row: rx.flex(  # noqa: E731
        rx.hstack(rx.text(row["time"], size="1", color_scheme="gray", white_space="nowrap"),
                  rx.text(row["level"], size="1", weight="bold", white_space="nowrap", min_width="4.5rem",
                          color=rx.cond(row["level"] == "ERROR", rx.color("red", 11), "inherit")), spacing="2"),
        rx.text(row["message"], size="1", style=styles.MONO, word_break="break-word", min_width="0", flex="1"),
        direction=rx.breakpoints(initial="column", sm="row"), spacing="2", align="start", width="100%",
        class_name="log-line")
    return rx.card(rx.vstack(
        rx.heading("Log (last lines)", size="4"),
        rx.cond(S.logs.length() == 0, rx.text("Nothing logged yet.", size="2", color_scheme="gray"),
                rx.scroll_area(rx.vstack(rx.foreach(S.logs, line), spacing="1", width="100%"), type="auto",
                               max_height="18rem", id="job-logs")),
        spacing="3", width="100%"), width="100%")


def checkpoints_card() -> rx.Component:
    def row(c: rx.Var) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.hstack(rx.text(c["epoch"]), rx.cond(c["best"] == "true", rx.badge("best", color_scheme="green")),
                                    rx.cond(c["corrupted"] == "true", rx.badge("damaged", color_scheme="red")),
                                    spacing="2")),
            rx.table.cell(c["step"]), rx.table.cell(c["value"]), rx.table.cell(c["size"]),
            rx.table.cell(rx.text(c["saved"], white_space="nowrap")),
            rx.table.cell(rx.cond(S.can_restore & (c["corrupted"] != "true"),
                                  rx.button(rx.icon("rotate-ccw", size=14), "Restore", size="1", variant="soft",
                                            on_click=S.restore(c["name"]), disabled=S.busy, class_name="restore"))),
            class_name="checkpoint-row")
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Epoch", "Step", "Monitored value", "Size", "Saved", "")])),
        rx.table.body(rx.foreach(S.checkpoints, row)), size="1", variant="surface", width="100%", id="checkpoints")
    return rx.card(rx.vstack(
        rx.heading("Checkpoints", size="4"),
        rx.text("Saved after every epoch. Restore continues training from one (a paused or failed job); the metrics "
                "logged after it are replaced.", size="2", color_scheme="gray"),
        rx.cond(S.checkpoints.length() == 0, rx.text("None yet: the first is saved at the end of the first epoch.",
                                                     size="2", color_scheme="gray"),
                rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%")),
        spacing="3", width="100%"), width="100%")


def side() -> rx.Component:
    return rx.vstack(
        rx.card(rx.vstack(rx.heading("Resources used", size="4"), _pairs(S.resources, id="job-resources"),
                          spacing="3"), width="100%"),
        rx.card(rx.vstack(rx.heading("Job", size="4"), _pairs(S.facts), rx.link("Its run in the experiment",
                                                                              href=S.experiment_href, size="2"),
                          spacing="3"), width="100%"),
        rx.card(rx.vstack(rx.heading("Hyperparameters", size="4"), rx.data_list.root(rx.foreach(
            S.hyperparameters, lambda p: rx.data_list.item(rx.data_list.label(p["key"]),
                                                          rx.data_list.value(rx.text(p["value"], style=styles.MONO))))),
            spacing="3"), width="100%"),
        spacing="4", width="100%")


def job_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("Training jobs"), align="center",
                                    spacing="1"), href=JOBS, size="2"), width="100%"),
        rx.heading(S.name, size="6", id="job-name", word_break="break-word"),
        status_card(),
        rx.grid(
            rx.vstack(curves_card(), logs_card(), checkpoints_card(), spacing="4", width="100%", min_width="0"),
            side(),
            columns=rx.breakpoints(initial="1", lg="minmax(0, 5fr) minmax(18rem, 2fr)"), spacing="4", width="100%"),
        spacing="4", width="100%")


@protected_page(routes.TRAINING_JOB, "Training job", on_load=[TrainingJobState.load])
def job() -> rx.Component:
    return rx.cond(
        S.found,
        rx.cond(S.loading & (S.name == ""), loading_rows(), job_page()),
        empty_state("Training job not found", "It may belong to someone else, or the link is wrong. Open Training "
                    "jobs to see yours.", icon="dumbbell"),
    )
