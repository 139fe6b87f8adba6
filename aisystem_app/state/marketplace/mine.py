"""The signed-in user's marketplace pages: favourites and subscriptions."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from aisystem_app.components.listing_card import ListingCard
from aisystem_app.state.marketplace.common import (
    LIST_LIMIT,
    SubscriptionView,
    card_of,
    subscription_view,
)
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.marketplace import service as market

# --- favourites -------------------------------------------------------------------------------------


def read_favourites(session: Session, principal: Principal) -> list[ListingCard]:
    """The user's favourite listings, most recently added first."""
    docs, _cursor = market.list_favorites(session=session, actor=principal, params=PageParams(limit=LIST_LIMIT))
    return [card_of(d) for d in docs]


class FavouritesState(rx.State):
    """The signed-in user's favourite listings."""

    loading: bool = True
    cards: list[ListingCard] = []

    @rx.event(background=True)
    async def load(self):
        """Read the favourites."""
        outcome = await invoke(self, read_favourites)
        async with self:
            self.loading = False
            self.cards = outcome.value if outcome.ok else []
        return outcome.events or None


# --- subscriptions ----------------------------------------------------------------------------------


def read_subscriptions(session: Session, principal: Principal) -> tuple[list[SubscriptionView], list[SubscriptionView]]:
    """The user's subscriptions, newest first: the live ones (active or cancelled but still running),
    and the ended ones."""
    subs, _cursor = market.list_subscriptions(session=session, actor=principal, params=PageParams(limit=LIST_LIMIT),
                                              include_ended=True)
    views = [subscription_view(sub) for sub in subs]
    return [v for v in views if v.status != "ended"], [v for v in views if v.status == "ended"]


class SubscriptionsState(rx.State):
    """The signed-in user's subscriptions: live ones, then ended ones."""

    loading: bool = True
    subscriptions: list[SubscriptionView] = []
    ended: list[SubscriptionView] = []

    @rx.event(background=True)
    async def load(self):
        """Read the subscriptions."""
        outcome = await invoke(self, read_subscriptions)
        async with self:
            self.loading = False
            self.subscriptions, self.ended = outcome.value if outcome.ok else ([], [])
        return outcome.events or None
