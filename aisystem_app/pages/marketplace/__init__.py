"""The marketplace pages: landing, browse, a listing, your subscriptions and favourites."""

from aisystem_app.pages.marketplace import browse, landing, listing, mine

__all__ = ["browse", "landing", "listing", "mine"]
