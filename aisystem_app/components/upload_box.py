"""A file drop zone listing the chosen files, and a progress bar for the transfer."""

from __future__ import annotations

import reflex as rx


def upload_box(upload_id: str, *, hint: str, max_files: int = 2, disabled: rx.Var[bool] | bool = False) -> rx.Component:
    """Drop files here or click to choose them; the chosen names show below (as text)."""
    zone = rx.upload.root(
        rx.vstack(
            rx.icon("upload", size=22, color=rx.color("gray", 10)),
            rx.text("Drop a file here, or click to choose one" if max_files == 1 else "Drop files here, or click to choose",
                    size="2", weight="medium"),
            rx.text(hint, size="1", color_scheme="gray", align="center"),
            align="center",
            spacing="1",
        ),
        id=upload_id,
        multiple=max_files > 1,
        max_files=max_files,
        disabled=disabled,
        border=f"1px dashed {rx.color('gray', 7)}",
        border_radius="var(--radius-3)",
        padding="1.25rem",
        width="100%",
        cursor="pointer",
    )
    chosen = rx.vstack(
        rx.foreach(rx.selected_files(upload_id),
                   lambda name: rx.hstack(rx.icon("file", size=14), rx.text(name, size="2"), align="center",
                                          class_name="chosen-file")),
        spacing="1",
        width="100%",
        class_name="selected-files",
    )
    return rx.vstack(zone, chosen, spacing="2", width="100%")


def progress_bar(percent: rx.Var[int], *, active: rx.Var[bool], bar_id: str) -> rx.Component:
    """The share of the file sent so far, while a transfer runs (and its last value after)."""
    return rx.cond(
        active | (percent > 0),
        rx.hstack(
            rx.progress(value=percent, max=100, width="100%", aria_label="Upload progress"),
            rx.text(percent.to_string() + "%", size="1", color_scheme="gray", min_width="3rem", align="right"),
            width="100%",
            align="center",
            id=bar_id,
            data_percent=percent,
        ),
    )
