"""Pages: importing this package registers every page with the app."""

from aisystem_app.pages import catalog, governance, home, login, marketplace, training

__all__ = ["catalog", "governance", "home", "login", "marketplace", "training"]
