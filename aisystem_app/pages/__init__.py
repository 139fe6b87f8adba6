"""Pages: importing this package registers every page with the app."""

from aisystem_app.pages import (
    audit,
    datasets,
    datasets_detail,
    home,
    login,
    marketplace,
    models,
    models_detail,
)

__all__ = ["audit", "datasets", "datasets_detail", "home", "login", "marketplace", "models", "models_detail"]
