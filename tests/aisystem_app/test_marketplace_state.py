"""The marketplace pages' states without a browser: signed-out callers are refused, the URL is the search,
and the review form checks the service's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData
from sqlmodel import select

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.state.marketplace.browse import SearchState, filters_of, search_url, toggled
from aisystem_app.state.marketplace.common import price_label, subscription_view
from aisystem_app.state.marketplace.landing import MarketplaceState
from aisystem_app.state.marketplace.listing import ListingState, review_errors
from aisystem_app.state.marketplace.mine import FavouritesState, SubscriptionsState
from backend.audit import service as audit
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.schemas import ModelCreate, ModelUpdate
from backend.core.config import get_settings
from backend.core.db import session_scope
from backend.core.timeutil import to_utc
from backend.marketplace import schemas as s
from backend.marketplace import service
from backend.marketplace.models import BillingRecord, Favorite, Provider, Purchase, Review, Subscription
from backend.marketplace.service.money import to_cents
from tests.aisystem_app.conftest import follow, navigation, signed_in_as
from tests.aisystem_app.test_state_security import as_list, redirects_to
from tests.backend.marketplace.conftest import actors, encoder, market, no_broker, principal  # noqa: F401

# encoder and no_broker (above) are autouse: the fake sentence encoder, and jobs recorded instead of sent.

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
                   await ListingState.ask.fn(listing, "subscribe", "Basic"),
                   await ListingState.submit_review.fn(listing, {"title": "Forged", "text": ""}),
                   await ListingState.ask.fn(listing, "cancel")):
        assert redirects_to(as_list(events), routes.LOGIN)
    assert not listing.confirm_open and await ListingState.confirm_action.fn(listing) is None
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
    await ListingState.ask.fn(listing, "subscribe", "Pro")
    assert listing.confirm_open and listing.confirm.headline == "$50 charged now"
    await ListingState.confirm_action.fn(listing)
    assert listing.subscribed and listing.subscription[0].tier == "Pro" and not listing.confirm_open
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


# --- money shown before it is charged, what to do next, what a subscription is --------------------------


async def open_listing(root_state, user_id: str, listing_id: str, tab: str = "") -> ListingState:  # noqa: ANN001
    await signed_in_as(root_state, user_id)
    listing = await root_state.get_state(ListingState)
    at(listing, f"/marketplace/models/{listing_id}" + (f"?tab={tab}" if tab else ""))
    await ListingState.load.fn(listing)
    return listing


def billed(listing_id: str) -> list[int]:
    with session_scope() as session:
        return [r.amount_cents for r in session.exec(select(BillingRecord).where(BillingRecord.listing_id == listing_id)
                                                     .order_by(BillingRecord.created_at, BillingRecord.id)).all()]


@pytest.mark.anyio
async def test_the_upgrade_dialog_states_the_amount_that_is_then_billed(root_state, demo_users, market) -> None:  # noqa: F811
    listing = await open_listing(root_state, demo_users["data_scientist"], market.alpha, "pricing")
    assert listing.tab == "pricing"
    await ListingState.ask.fn(listing, "subscribe", "Basic")
    assert listing.confirm.title == "Subscribe to Basic" and listing.confirm.headline == "$10 charged now"
    assert listing.confirm.button == "Pay $10 and subscribe" and "Then $10 every month" in listing.confirm.lines[1]
    assert billed(market.alpha) == []  # asking charges nothing
    events = as_list(await ListingState.confirm_action.fn(listing))
    assert navigation(events) == (f"/marketplace/models/{market.alpha}?tab=usage", False)  # next: how to call it
    # Shown before the navigation's load has run: a click on Pricing in that moment is not lost.
    assert listing.tab == "usage"

    await ListingState.ask.fn(listing, "subscribe", "Pro")
    headline = listing.confirm.headline
    assert listing.confirm.title == "Switch from Basic to Pro" and headline.endswith(" charged now")
    shown = listing._quote.amount
    assert headline == f"{fmt.money(shown)} charged now" and 0 < shown <= 40
    await ListingState.confirm_action.fn(listing)
    assert billed(market.alpha) == [1000, to_cents(shown)] and not listing.confirm_open
    assert listing.billing[0].amount == fmt.money(shown)
    assert listing.subscription[0].state == "Active" and listing.subscription[0].tone == "green"

    await ListingState.ask.fn(listing, "subscribe", "Basic")
    assert listing.confirm.headline.endswith(" credited now") and listing._quote.amount < 0
    ListingState.close_confirm.fn(listing, False)
    assert not listing.confirm_open and len(billed(market.alpha)) == 2  # going back changes nothing


@pytest.mark.anyio
async def test_a_price_change_before_confirming_shows_the_new_amount(root_state, demo_users, market, actors) -> None:  # noqa: F811
    listing = await open_listing(root_state, demo_users["data_scientist"], market.gamma)
    await ListingState.ask.fn(listing, "purchase")
    assert listing.confirm.headline == "$5,000 charged now, once" and listing.confirm.button == "Pay $5,000"
    with session_scope() as session:
        admin = principal(session, "admin")
        service.update_listing(session=session, actor=admin, listing_id=market.gamma,
                               data=s.ListingUpdate(pricing={"model": "one_time", "oneTimePrice": 5500, "tiers": []}))
    await ListingState.confirm_action.fn(listing)
    assert listing.confirm_open and listing.confirm.headline == "$5,500 charged now, once"
    assert "nothing was charged" in listing.confirm_note and not listing.purchased
    await ListingState.confirm_action.fn(listing)
    assert listing.purchased and not listing.confirm_open
    assert [(b.description, b.amount) for b in listing.billing] == [("One-time licence (Commercial)", "$5,500")]
    with session_scope() as session:
        assert session.exec(select(Purchase.amount_cents)).one() == 550000


@pytest.mark.anyio
async def test_a_cancelled_subscription_says_until_when(root_state, demo_users, market) -> None:  # noqa: F811
    listing = await open_listing(root_state, demo_users["data_scientist"], market.alpha)
    await ListingState.ask.fn(listing, "subscribe", "Basic")
    await ListingState.confirm_action.fn(listing)
    await ListingState.ask.fn(listing, "cancel")
    ends = listing._quote.active_until
    assert listing.confirm.headline == "Nothing is refunded" and listing.confirm.danger
    assert f"You keep Basic until {fmt.day(ends)}" in listing.confirm.lines[0]
    await ListingState.confirm_action.fn(listing)
    [sub] = listing.subscription
    assert (sub.status, sub.tone, sub.state) == ("cancelling", "amber", f"Cancelled · active until {fmt.day(ends)}")
    assert [t.button for t in listing.tiers][:2] == ["Resume", "Switch to Pro"]
    mine = await root_state.get_state(SubscriptionsState)
    await SubscriptionsState.load.fn(mine)
    assert [v.state for v in mine.subscriptions] == [sub.state] and mine.ended == []
    with session_scope() as session:  # the period ends
        service.renew_subscriptions(session=session, now=to_utc(ends) + timedelta(seconds=1))
    await SubscriptionsState.load.fn(mine)
    assert mine.subscriptions == [] and [v.state for v in mine.ended] == [f"Ended {fmt.day(ends)}"]
    assert mine.ended[0].tone == "gray" and mine.ended[0].usage == ""


@pytest.mark.anyio
async def test_the_usage_tab_says_how_to_call_the_model(root_state, demo_users, market, actors) -> None:  # noqa: F811
    listing = await open_listing(root_state, demo_users["data_scientist"], market.alpha, "usage")
    guide = listing.guide
    assert guide.kind == "external" and "outside this platform" in guide.text and "Acme AI" in guide.text
    assert (guide.link_label, guide.link_href) == ("Acme AI's documentation", "https://acme.example/docs")
    assert not listing.has_calls and listing.billing == []

    with session_scope() as session:
        engineer = principal(session, "ml_engineer")
        model = registry_service.create_model(session=session, actor=engineer, embed=False, data=ModelCreate.model_validate(
            {"name": "Churn Scorer", "type": "Tabular", "category": "Computer Vision", "framework": "PyTorch"}))
        company = service.create_listing(session=session, actor=engineer, data=s.ListingCreate(source_model_id=model.id))
        model_id, company_id = model.id, company.id
    listing = await open_listing(root_state, demo_users["data_scientist"], company_id, "usage")
    assert listing.guide.kind == "not_deployed" and "not deployed to an endpoint yet" in listing.guide.text
    assert listing.guide.link_href == f"/catalog/models/{model_id}" and listing.guide.curl == ""

    with session_scope() as session:
        registry_service.update_model(session=session, actor=principal(session, "ml_engineer"), model_id=model_id,
                                      data=ModelUpdate.model_validate({"deployment": {"endpoints": ["churn-prod"]}}))
    listing = await open_listing(root_state, demo_users["data_scientist"], company_id, "usage")
    guide = listing.guide
    url = f"{get_settings().origin}/api/v1/catalog/endpoints/churn-prod/predict"
    assert guide.kind == "endpoint" and guide.endpoints == ["churn-prod"]
    assert f'curl -X POST "{url}"' in guide.curl and '-H "X-API-Key: YOUR_API_KEY"' in guide.curl
    assert f'"{url}"' in guide.python and "YOUR_API_KEY" in guide.python and "requests.post(" in guide.python
    compile(guide.python, "example.py", "exec")  # the Python example is valid Python

    await ListingState.ask.fn(listing, "subscribe", "Internal")  # the company default: free, unlimited
    await follow(listing, await ListingState.confirm_action.fn(listing))  # opens the Usage tab
    assert listing.tab == "usage" and listing.subscribed and not listing.has_calls  # the chart says "No calls yet"
    with session_scope() as session:
        service.record_usage(session=session, listing_id=company_id, user_id=demo_users["data_scientist"], requests=3)
    listing = await open_listing(root_state, demo_users["data_scientist"], company_id, "usage")
    assert listing.has_calls and listing.usage_text == "3 requests this period (unlimited)"
    figure = listing.usage_chart
    assert figure.layout.yaxis.title.text == "Requests" and figure.data[0].y[-1] == 3


@pytest.mark.anyio
async def test_contact_sales_mails_the_provider(root_state, demo_users, market) -> None:  # noqa: F811
    with session_scope() as session:
        acme = session.exec(select(Provider).where(Provider.slug == "acme-ai")).one()
        acme.contact_email, acme.contact_is_demo = "sales@acme-ai.example.com", True
        session.add(acme)
        audit.record(session=session, actor=None, actor_name="test", action="marketplace.provider.update",
                     entity_type="marketplace_provider", entity_id=acme.id)
    listing = await open_listing(root_state, demo_users["data_scientist"], market.alpha, "pricing")
    enterprise = next(t for t in listing.tiers if t.name == "Enterprise")
    assert enterprise.action == "contact"
    assert enterprise.contact_href == "mailto:sales@acme-ai.example.com?subject=Alpha%20Vision%3A%20the%20Enterprise%20tier"
    assert (listing.sales_name, listing.sales_email, listing.sales_demo) == ("Acme AI", "sales@acme-ai.example.com", True)


def test_subscription_wording() -> None:
    base = {"id": "s", "listingId": "l", "listingName": "Alpha", "tier": "Pro", "price": 50, "currency": "USD",
            "billing": "monthly", "requestsQuota": 1000, "startedAt": "2026-01-01T00:00:00Z", "requestsUsed": 250,
            "requestsRemaining": 750, "demo": False}
    active = subscription_view(s.SubscriptionRead.model_validate({
        **base, "status": "active", "currentPeriodStart": "2026-01-01T00:00:00Z", "currentPeriodEnd": "2026-02-01T00:00:00Z",
        "cancelAtPeriodEnd": False, "endsAt": None}))
    assert (active.state, active.period, active.tone, active.percent) == ("Active", "Renews 1 Feb 2026", "green", 25)
    cancelling = subscription_view(s.SubscriptionRead.model_validate({
        **base, "status": "cancelling", "currentPeriodStart": "2026-01-01T00:00:00Z",
        "currentPeriodEnd": "2026-02-01T00:00:00Z", "cancelAtPeriodEnd": True, "endsAt": "2026-02-01T00:00:00Z"}))
    assert cancelling.state == "Cancelled · active until 1 Feb 2026" and cancelling.tone == "amber"
    assert cancelling.period == "Active until 1 Feb 2026, then it ends; nothing more is billed."
    ended = subscription_view(s.SubscriptionRead.model_validate({
        **base, "status": "ended", "currentPeriodStart": None, "currentPeriodEnd": None, "cancelAtPeriodEnd": True,
        "endsAt": "2026-02-01T00:00:00Z", "requestsUsed": 0}))
    assert (ended.state, ended.tone, ended.metered) == ("Ended 1 Feb 2026", "gray", False)


# --- search in your own words; nothing found; demo figures; listing <-> model page (B1) -------------------


@pytest.mark.anyio
async def test_an_empty_search_keeps_its_facets_and_links_what_to_change(root_state, demo_users, market) -> None:  # noqa: F811
    from aisystem_app.state.marketplace.browse import SearchState as Search

    await signed_in_as(root_state, demo_users["business_user"])
    search = await root_state.get_state(Search)
    at(search, "/marketplace/search?q=chat&category=vision")
    assert not as_list(await Search.load.fn(search))
    assert search.cards == [] and search.total == 0 and search.empty_title == "No models match “chat”"
    categories = {o.value: (o.count, o.selected) for g in search.groups if g.key == "category" for o in g.options}
    assert categories == {"vision": (0, True), "llm": (2, False), "embeddings": (0, False)}
    assert {g.key for g in search.groups} >= {"category", "provider", "licence"}  # every facet stays on screen
    shown = {(v.text, v.count, v.href) for v in search.suggestions}
    assert ("Remove the filter “Category: Computer Vision”", "2 models", "/marketplace/search?q=chat") in shown
    assert ("Show every model these filters allow (without the search words)", "1 model",
            "/marketplace/search?category=vision") in shown
    await follow(search, [rx.redirect("/marketplace/search?q=chat")])  # the first suggestion, clicked
    assert {c.name for c in search.cards} == {"Beta Chat", "Gamma Chat"} and search.suggestions == []


def test_a_models_figures_read_the_same_on_both_pages() -> None:
    assert fmt.metric("accuracy", 0.945) == fmt.metric("Accuracy", 0.945) == "94.5%"
    assert fmt.metric("f1Score", 0.93) == "93.0%" and fmt.metric("latencyP95Ms", 120.0) == "120 ms"
    assert fmt.metric("latency", {"p50": 45, "p95": 120}) == "p50 45 ms · p95 120 ms"
    assert fmt.metric("throughput", 1000) == "1,000 requests/s" and fmt.metric("humanPreference", 0.6) == "0.6"
    assert fmt.metric("accuracy", 12.5) == "12.5"  # not a share of one: left as it is
    assert (fmt.price(0), fmt.price(250, "USD", "monthly"), fmt.price(None), fmt.price(4990)) == (
        "Free", "$250 / mo", "Contact sales", "$4,990")


def test_ratings_from_demo_reviews_say_so() -> None:
    from aisystem_app.state.marketplace.common import rating_label, shown_rating, usage_note

    dist = s.RatingDistribution(**{str(i): 0 for i in range(1, 6)})
    ratings = dict(overall=4.24, performance=None, accuracy=None, ease_of_use=None, support=None, value=None,
                   distribution=dist)
    assert rating_label(s.Ratings(**ratings, review_count=18, demo_review_count=18)) == "4.2 (18 demo reviews)"
    assert rating_label(s.Ratings(**ratings, review_count=18, demo_review_count=15)) == "4.2 (18, 15 demo)"
    assert rating_label(s.Ratings(**ratings, review_count=3)) == "4.2 (3)"
    # The stars and what a screen reader says agree with the label's one decimal.
    assert shown_rating(s.Ratings(**ratings, review_count=3)) == 4.2
    assert shown_rating(s.Ratings(**{**ratings, "overall": None}, review_count=0)) == 0.0
    usage = dict(total_downloads=0, active_users=3, total_requests=40, average_latency=None, subscribers=0)
    assert usage_note(s.Usage(**usage, includes_demo_data=True)) == "Includes generated demo usage"
    assert usage_note(s.Usage(**usage)) == ""


@pytest.mark.anyio
async def test_a_company_listing_and_its_model_page_link_and_agree(root_state, demo_users, market, actors) -> None:  # noqa: F811
    from aisystem_app.state.catalog.models.detail import ModelDetailState

    engineer = actors["ml_engineer"]
    with session_scope() as session:
        model = registry_service.create_model(session=session, actor=engineer, data=ModelCreate.model_validate({
            "name": "Shelf Gap Finder", "type": "Vision", "category": "Computer Vision", "framework": "PyTorch",
            "capabilities": ["object_detection"], "performance": {"accuracy": 0.945, "f1Score": 0.93},
            "pricing": {"model": "per_request", "inputTokens": 0.000002, "currency": "USD"}}), embed=False)
        listing = service.create_listing(session=session, actor=engineer, data=s.ListingCreate.model_validate({
            "sourceModelId": model.id, "pricing": {"model": "subscription", "tiers": [
                {"name": "Team", "price": 0, "requests": 100000},
                {"name": "Department", "price": 250, "requests": 2000000}]}}))
        model_id, listing_id = model.id, listing.id

    page = await open_listing(root_state, demo_users["business_user"], listing_id)
    assert page.catalog_href == f"/catalog/models/{model_id}"
    specs = {f.label: f.value for f in page.specs}
    assert specs["Accuracy"] == "94.5%" and specs["F1 score"] == "93.0%"
    assert "0.945" not in {f.value for f in page.specs}

    await signed_in_as(root_state, demo_users["business_user"])
    detail = await root_state.get_state(ModelDetailState)
    at(detail, f"/catalog/models/{model_id}")
    await ModelDetailState.load.fn(detail)
    assert detail.found and detail.listing_href == f"/marketplace/models/{listing_id}"
    groups = {g.title: {f.label: f.value for f in g.facts} for g in detail.groups}
    assert groups["Pricing (marketplace listing)"] == {
        "Pricing model": "Subscription", "Price": "Free", "Team": "Free · 100,000 requests",
        "Department": "$250 / mo · 2,000,000 requests"}
    assert "Pricing" not in groups  # the catalog's per-request figures do not contradict the listing
    assert groups["Performance"]["Accuracy"] == "94.5%"

