"""The Reflex app: UI pages, their websocket, and the REST API on one server."""

import reflex as rx

from aisystem_app import (
    downloads,
    pages,  # noqa: F401  (registers the pages)
    styles,
)
from backend.api import UnroutableApiPath, create_api, freeze_startup_objects


class App(rx.App):
    """Reflex's app, whose server is wrapped once more: Reflex mounts everything under a top-level
    `Mount("")` whose pattern matches no path holding a line break, so `/api/v1/a%0Ab` got Starlette's
    text 404 before reaching the API; outside that mount it gets the API's JSON error."""

    def __call__(self):  # noqa: ANN204  (an ASGI app)
        return UnroutableApiPath(super().__call__())


root_app = create_api()
app = App(
    api_transformer=downloads.mount(root_app),
    style=styles.BASE_STYLE,
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
    html_lang="en",
)

# The UI pages are compiled after create_api() froze its objects; freeze those too once serving starts.
app.register_lifespan_task(freeze_startup_objects)
# The MCP server at /mcp runs its session manager for the life of the server (backend/mcp/transport.py).
app.register_lifespan_task(root_app.state.mcp.lifespan)
