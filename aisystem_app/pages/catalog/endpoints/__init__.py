"""The endpoint pages: the list and one endpoint."""

from aisystem_app.pages.catalog.endpoints import detail, index

__all__ = ["detail", "index"]
