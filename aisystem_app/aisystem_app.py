"""The Reflex app: UI pages, their websocket, and the REST API on one server."""

import reflex as rx

from aisystem_app import (
    downloads,
    pages,  # noqa: F401  (registers the pages)
    styles,
)
from backend.api import create_api, freeze_startup_objects

app = rx.App(
    api_transformer=downloads.mount(create_api()),
    style=styles.BASE_STYLE,
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
    html_lang="en",
)

# The UI pages are compiled after create_api() froze its objects; freeze those too once serving starts.
app.register_lifespan_task(freeze_startup_objects)
