"""The marketplace pages' states without a browser: signed-out callers are refused, the URL is the search,
and the review form checks the service's rules."""

from __future__ import annotations

import pytest
from reflex.istate.data import ReflexURL, RouterData
from sqlmodel import select

from aisystem_app import routes
from aisystem_app.state.marketplace.browse import SearchState, filters_of, search_url, toggled
from aisystem_app.state.marketplace.common import price_label
from aisystem_app.state.marketplace.landing import MarketplaceState
from aisystem_app.state.marketplace.listing import ListingState, review_errors
from aisystem_app.state.marketplace.mine import FavouritesState, SubscriptionsState
from backend.core.db import session_scope
from backend.marketplace.models import Favorite, Review, Subscription
from tests.aisystem_app.conftest import signed_in_as
from tests.aisystem_app.test_state_security import as_list, redirects_to
from tests.backend.marketplace.conftest import actors, market  # noqa: F401  (fixtures)

READS = [(MarketplaceState, "load"), (SearchState, "load"), (ListingState, "load"), (FavouritesState, "load"),
         (SubscriptionsState, "load")]


def at(state, url: str) -> None:  # noqa: ANN001
    """Put the tab on `url`, as navigating there does."""
    state.router = RouterData(url=ReflexURL(f"http://testserver{url}"))


# --- signed-out callers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state_cls", [MarketplaceState, SearchState, ListingState, FavouritesState,
                                       SubscriptionsState], ids=lambda s: s.__name__)
def test_only_public_handlers_and_no_setters(state_cls) -> None:
    assert not any(name.startswith(("_", "set_")) for name in state_cls.event_handlers)
    assert "_params" not in SearchState.base_vars  # the search stays on the server


@pytest.mark.anyio
@pytest.mark.parametrize(("state_cls", "handler"), READS, ids=lambda v: getattr(v, "__name__", v))
async def test_reads_send_a_signed_out_tab_to_login(root_state, demo_users, state_cls, handler) -> None:
    await signed_in_as(root_state, None)
    state = await root_state.get_state(state_cls)
    events = as_list(await getattr(state_cls, handler).fn(state))
    assert redirects_to(events, routes.LOGIN)


@pytest.mark.anyio
async def test_writes_refuse_a_signed_out_caller(root_state, market) -> None:  # noqa: F811
    await signed_in_as(root_state, None)
    listing = await root_state.get_state(ListingState)
    listing.listing_id, listing.form_rating = market.alpha, 5
    for events in (await ListingState.toggle_favourite.fn(listing),
                   await ListingState.subscribe.fn(listing, "Basic"),
                   await ListingState.submit_review.fn(listing, {"title": "Forged", "text": ""}),
                   await ListingState.cancel_subscription.fn(listing)):
        assert redirects_to(as_list(events), routes.LOGIN)
    with session_scope() as session:
        for table in (Favorite, Subscription, Review):
            assert session.exec(select(table)).first() is None
    assert not listing.favourite


# --- signed in ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_search_reads_the_url_and_counts_facets(root_state, demo_users, market) -> None:  # noqa: F811
    await signed_in_as(root_state, demo_users["business_user"])
    search = await root_state.get_state(SearchState)
    at(search, "/marketplace/search?category=llm&sort=name")
    assert not as_list(await SearchState.load.fn(search))
    assert [c.name for c in search.cards] == ["Beta Chat", "Gamma Chat"] and search.total_label == "2 models"
    categories = {o.value: (o.count, o.selected) for g in search.groups if g.key == "category" for o in g.options}
    assert categories == {"llm": (2, True), "vision": (1, False), "embeddings": (1, False)}
    assert search.sort == "name" and search.filtered


@pytest.mark.anyio
async def test_an_unknown_facet_value_is_reported_not_hidden(root_state, demo_users, market) -> None:  # noqa: F811
    await signed_in_as(root_state, demo_users["business_user"])
    search = await root_state.get_state(SearchState)
    at(search, "/marketplace/search?category=no-such-thing")
    events = as_list(await SearchState.load.fn(search))
    assert events and not redirects_to(events, routes.LOGIN) and search.cards == []


@pytest.mark.anyio
async def test_listing_subscribe_and_review_update_the_page(root_state, demo_users, market) -> None:  # noqa: F811
    await signed_in_as(root_state, demo_users["data_scientist"])
    listing = await root_state.get_state(ListingState)
    at(listing, f"/marketplace/models/{market.alpha}")
    await ListingState.load.fn(listing)
    assert listing.found and listing.name == "Alpha Vision" and listing.star_counts == "0,0,0,0,0"
    assert [(t.name, t.action) for t in listing.tiers] == [("Basic", "subscribe"), ("Pro", "subscribe"),
                                                           ("Enterprise", "contact")]
    await ListingState.subscribe.fn(listing, "Pro")
    assert listing.subscribed and listing.subscription[0].tier == "Pro"
    assert [t.action for t in listing.tiers] == ["change", "current", "contact"]

    assert await ListingState.submit_review.fn(listing, {"title": "", "text": ""}) is None
    assert listing.rating_error  # no stars chosen
    ListingState.choose_rating.fn(listing, 4)
    await ListingState.submit_review.fn(listing, {"title": "Solid", "text": "Works well."})
    assert listing.star_counts == "0,0,0,1,0" and listing.review_count == "1 review"
    assert listing.own_review_id and listing.reviews[0].verified_use


# --- pure helpers --------------------------------------------------------------------------------------


def test_facets_toggle_in_the_url() -> None:
    params = {"q": "chat", "category": "llm"}
    assert toggled(params, "category", "vision") == {"q": "chat", "category": "llm,vision"}
    assert toggled(params, "category", "llm") == {"q": "chat"}
    assert toggled({"rating": "4"}, "rating", "4") == {}
    assert toggled({"rating": "4"}, "rating", "3") == {"rating": "3"}
    assert search_url({"sort": "rating", "q": "a b", "tag": "x"}) == "/marketplace/search?q=a+b&tag=x&sort=rating"


def test_url_parameters_become_search_filters() -> None:
    f = filters_of({"category": "llm,vision", "price": "0.01-100", "verified": "true", "rating": "4", "sort": "bogus"})
    assert f.categories == ("llm", "vision") and f.verified is True and f.min_rating == 4.0
    assert (f.min_price, f.max_price) == (0.01, 100.0) and f.sort == "relevance"
    assert filters_of({"price": "500.01-", "rating": "lots"}).max_price is None
    assert filters_of({"rating": "lots"}).min_rating is None


def test_review_form_follows_the_service_rules() -> None:
    errors, review = review_errors(0, "x" * 121, "")
    assert set(errors) == {"rating", "title"} and review is None
    errors, review = review_errors(5, " Great ", "")
    assert not errors and review.rating == 5 and review.title == "Great" and review.text is None


def test_wording() -> None:
    assert price_label("Contact", "USD", "monthly") == "Contact sales"
    assert price_label(0, "USD", "monthly") == "Free" and price_label(50, "USD", "yearly") == "$50 / yr"
    assert routes.id_in_path("/marketplace/models/market_model_1/") == "market_model_1"
