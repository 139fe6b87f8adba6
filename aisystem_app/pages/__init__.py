"""Pages: importing this package registers every page with the app."""

from aisystem_app.pages import audit, home, login

__all__ = ["audit", "home", "login"]
