"""/training/jobs/new: dataset and version (its stored split), family, target model, hyperparameters with
the family's defaults; the service's validation messages show next to the fields."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.dialogs import field_error
from aisystem_app.components.feedback import empty_state, loading_rows, not_permitted
from aisystem_app.components.forms import field_label, form_error
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.training.new import NEW_MODEL, NO_MODEL, NewTrainingJobState
from aisystem_app.state.training.view import JOBS

S = NewTrainingJobState


def _labelled(label: str, name: str, control: rx.Component, help_text: rx.Var | str = "") -> rx.Component:
    error = field_error(S.errors, name)
    return rx.vstack(
        field_label(label, name), control,
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", id=f"{name}-error", class_name="field-error"),
                rx.text(help_text, size="1", color_scheme="gray") if help_text is not None else None),
        spacing="1", width="100%", align="start",
    )


def _select(items: rx.Var, value: rx.Var, on_change, key: str, text: str, **props) -> rx.Component:  # noqa: ANN001
    """A select over state items; remounted when its options change (Radix keeps showing a stale label, or
    none, when the items under a kept value are replaced)."""
    return rx.select.root(
        rx.select.trigger(width="100%", **{k: props.pop(k) for k in ("id", "aria_label") if k in props}),
        rx.select.content(rx.foreach(items, lambda item: rx.select.item(item[text], value=item[key]))),
        value=value, on_change=on_change, key=items.to_string() + value, **props)


def _dynamic_field(field: rx.Var) -> rx.Component:
    name = field["name"].to(str)
    error = rx.cond(S.errors.contains(name), S.errors[name].to(str), "")
    control = rx.cond(
        field["kind"] == "choice",
        rx.select.root(
            rx.select.trigger(width="100%", id=name),
            rx.select.content(rx.foreach(field["options"].to(list[str]), lambda o: rx.select.item(o, value=o))),
            name=name, default_value=field["value"].to(str)),
        rx.input(id=name, name=name, default_value=field["value"].to(str), width="100%",
                 color_scheme=rx.cond(error != "", "red", "gray"), aria_invalid=rx.cond(error != "", "true", "false")),
    )
    return rx.vstack(
        rx.text(field["label"].to(str), as_="label", size="2", weight="medium", custom_attrs={"htmlFor": name}),
        control,
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", id=name + "-error", class_name="field-error"),
                rx.text(field["help"].to(str), size="1", color_scheme="gray")),
        spacing="1", width="100%", align="start", class_name="hp-field", data_field=name,
    )


def _section(title: str, description: str, *children: rx.Component, **props) -> rx.Component:
    return rx.card(rx.vstack(rx.heading(title, size="4"), rx.text(description, size="2", color_scheme="gray"),
                             *children, spacing="3", width="100%"), width="100%", **props)


GRID = {"columns": rx.breakpoints(initial="1", sm="2", lg="3"), "spacing": "4", "width": "100%"}


def data_section() -> rx.Component:
    return _section(
        "Data", "The dataset version to train on; the job uses its stored split (train / validation / test).",
        rx.grid(
            _labelled("Dataset", "dataset", _select(S.datasets, S.dataset_id, S.choose_dataset, "id", "name",
                                                    id="dataset", aria_label="Dataset")),
            _labelled("Version and split", "version",
                      _select(S.versions, S.version, S.choose_version, "number", "text", id="version",
                              aria_label="Version")),
            _labelled("Label column (what to predict)", "label_column",
                      rx.select.root(rx.select.trigger(width="100%", id="label_column"),
                                     rx.select.content(rx.foreach(S.columns, lambda c: rx.select.item(c, value=c))),
                                     value=S.label_column, on_change=S.choose_label,
                                     key=S.columns.to_string() + S.label_column)),
            **GRID),
        rx.cond(~S.version_split & (S.version != ""),
                rx.callout(rx.hstack(rx.text("This version has no stored split yet. Split it on the dataset's page, "
                                             "then come back."), rx.link("Open the dataset", href=S.dataset_href)),
                           icon="triangle-alert", color_scheme="amber", size="1", id="no-split")),
    )


def model_section() -> rx.Component:
    family = S.family
    return _section(
        "Model", "The kind of model to train, and where the result is registered when training ends.",
        rx.grid(
            _labelled("Model family", "family", _select(S.families, family, S.choose_family, "name", "text",
                                                        id="family", aria_label="Model family")),
            _labelled("Register the result as", "target",
                      rx.select.root(rx.select.trigger(width="100%", id="target"), rx.select.content(
                          rx.select.item("A new model", value=NEW_MODEL),
                          rx.foreach(S.models, lambda m: rx.select.item("New version of " + m["name"], value=m["id"])),
                          rx.select.item("Do not register", value=NO_MODEL)),
                          value=S.target, on_change=S.choose_target)),
            rx.cond(S.target == NEW_MODEL,
                    _labelled("New model's name", "model_name",
                              rx.input(id="model_name", name="model_name", placeholder="e.g. Breast cancer classifier",
                                       max_length=200, width="100%"), "Created when the job succeeds")),
            **GRID),
    )


def hyperparameters_section() -> rx.Component:
    return _section(
        "Hyperparameters", "The family's defaults are filled in; change what you want to try. Out-of-range values "
        "are refused before anything is queued.",
        rx.cond(S.fields.length() == 0, loading_rows(3), rx.grid(rx.foreach(S.fields, _dynamic_field), **GRID)),
        rx.heading("Trainer", size="3", padding_top="0.5rem"),
        rx.grid(rx.foreach(S.trainer_fields, _dynamic_field), **GRID),
        id="hyperparameters", key=S.family,
    )


def form() -> rx.Component:
    return rx.form(
        rx.vstack(
            data_section(),
            model_section(),
            hyperparameters_section(),
            rx.card(rx.vstack(
                _labelled("Job name (optional)", "name", rx.input(id="name", name="name", max_length=200, width="100%",
                                                                 placeholder="Default: family on dataset and version")),
                form_error(S.form_error),
                rx.hstack(
                    rx.link(rx.button("Cancel", type="button", variant="soft", color_scheme="gray"), href=JOBS),
                    rx.button(rx.cond(S.creating, rx.spinner(size="2"), rx.icon("play", size=16)), "Start training",
                              type="submit", disabled=S.creating | ~S.version_split, id="start-training"),
                    justify="end", width="100%"),
                spacing="3", width="100%"), width="100%"),
            spacing="4", width="100%",
        ),
        on_submit=S.submit, reset_on_submit=False, id="new-training-job",
    )


def body() -> rx.Component:
    return rx.cond(
        S.loading, loading_rows(),
        rx.cond(S.datasets.length() == 0,
                empty_state("No dataset to train on", "Upload a tabular, text or image dataset on the Datasets page "
                            "and split it; or run the demo seed (python -m backend.cli seed).", icon="database"),
                form()))


@protected_page(routes.TRAINING_NEW, "New training job", on_load=[NewTrainingJobState.load])
def new() -> rx.Component:
    return rx.cond(S.allowed, rx.vstack(
        page_header("Train a model on a dataset version. The job is queued for a training worker (a GPU one when "
                    "there is one); you follow it live on its page.",
                    rx.link(rx.button("Back to training jobs", variant="soft"), href=JOBS)),
        body(), width="100%", spacing="0"), not_permitted("training"))
