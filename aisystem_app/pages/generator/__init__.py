"""The app generator's pages: the wizard."""

from aisystem_app.pages.generator import wizard

__all__ = ["wizard"]
