"""The dataset page's Download menu and Delete dialog (the dataset's name comes from a user: text only)."""

from __future__ import annotations

import reflex as rx

from aisystem_app.state.catalog.datasets.actions import DOWNLOAD_FORMATS
from aisystem_app.state.catalog.datasets.detail import DatasetDetailState

S = DatasetDetailState


def download_menu(version: rx.Var[str] | str = "", *, label: str = "Download", menu_id: str = "download") -> rx.Component:
    """A button whose menu downloads `version` (`v2`; the newest when empty) in each format offered."""
    return rx.menu.root(
        rx.menu.trigger(rx.button(rx.cond(S.downloading, rx.spinner(size="2"), rx.icon("download", size=16)), label,
                                  rx.icon("chevron-down", size=14), variant="soft", disabled=S.downloading,
                                  id=menu_id)),
        rx.menu.content(*[rx.menu.item(text, on_click=S.download(key, version), class_name="download-format",
                                       data_format=key) for key, text in DOWNLOAD_FORMATS]),
    )


def delete_dialog() -> rx.Component:
    """Delete, after a question that names the dataset and says when its files go for good."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(rx.icon("trash-2", size=16), "Delete", variant="soft", color_scheme="red",
                                          id="open-delete")),
        rx.alert_dialog.content(
            rx.alert_dialog.title(rx.el.span("Delete “", S.name, "”?"), id="delete-title"),
            rx.alert_dialog.description(S.delete_note, size="2", id="delete-note"),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray", id="delete-cancel")),
                rx.button(rx.cond(S.deleting, rx.spinner(size="2"), rx.icon("trash-2", size=16)), "Delete dataset",
                          color_scheme="red", on_click=S.delete_dataset, disabled=S.deleting, id="confirm-delete"),
                gap="3", justify="end", margin_top="1rem",
            ),
            max_width="30rem",
        ),
        open=S.delete_open,
        on_open_change=S.open_delete,
    )
