"""The model pages: the catalogue list and a model's page."""

from aisystem_app.pages.catalog.models import detail, index

__all__ = ["detail", "index"]
