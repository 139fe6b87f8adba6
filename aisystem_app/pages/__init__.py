"""Pages: importing this package registers every page with the app."""

from aisystem_app.pages import (
    benchmarks,
    catalog,
    comparison,
    generator,
    governance,
    home,
    login,
    marketplace,
    training,
)

__all__ = ["benchmarks", "catalog", "comparison", "generator", "governance", "home", "login", "marketplace", "training"]
