"""Reflex configuration: the UI, its websocket and the REST API share one server and one port."""

import reflex as rx

from aisystem_app import styles
from backend.core.config import Settings, get_settings


def cors_origins(settings: Settings) -> list[str]:
    """Origins allowed to open the websocket and call the API from a browser.

    Reflex puts its own CORS layer (credentials allowed) outside the API on the combined app and gives
    this list to the websocket server: a "*" here made every response reflect any Origin. So the list is
    the platform's allowlist in every environment (see `Settings.browser_origins`), never "*".
    """
    return settings.browser_origins()


_settings = get_settings()

config = rx.Config(
    app_name="aisystem_app",
    # Production serves UI, websocket and API on this one port (`reflex run --env prod --single-port`).
    # No frontend_port: in prod it must equal this one, and `--backend-only` refuses any.
    backend_port=_settings.port,
    cors_allowed_origins=cors_origins(_settings),
    # Believe one X-Forwarded-For hop only when a proxy is configured in front of the app.
    trusted_proxy_hops=1 if _settings.trusted_proxies else 0,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(
        accent_color=styles.ACCENT, gray_color=styles.GRAY, radius="medium", has_background=True,
    ))],
)
