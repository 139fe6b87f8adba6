"""REST routes of the model marketplace: /api/v1/marketplace.

Every route needs `marketplace:read`, which every signed-in user holds; the service checks it again,
with the listing in hand (`authorize`), so every caller gets the same decision. What goes beyond browsing
is checked by the service against the listing and the caller: publishing an external listing,
editing any listing and curating /featured need `marketplace:write` (admins); removing one needs
`marketplace:delete`; publishing a catalog model needs `model:write` (ML engineers), and its publisher
may then edit or remove that listing. Reviews, ratings, subscriptions, purchases, usage and
favourites are always the caller's own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import StringConstraints
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page, UtcInstant
from backend.marketplace import schemas as s
from backend.marketplace import service

router = APIRouter(prefix="/marketplace", tags=["marketplace"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]  # read-only work behind a POST
READ = "marketplace:read"

ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,140}$"
ModelId = Annotated[str, Path(pattern=ID_PATTERN, description="Listing id (or slug)")]
ReviewId = Annotated[str, Path(pattern=ID_PATTERN)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,80}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f]+$")]


def search_filters(
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f]*$",
                                   description="Words to find (by keyword and by meaning) in name, tags, provider, "
                                               "category, description, features")] = None,
    # Python names differ from the query names so they do not clash with the {category}/{provider} paths.
    category_keys: Annotated[list[Key] | None, Query(alias="category", max_length=20,
                                                     description="Category slug or id (repeatable: any of)")] = None,
    provider_keys: Annotated[list[Key] | None, Query(alias="provider", max_length=20,
                                                     description="Provider slug or id (repeatable: any of)")] = None,
    verified: Annotated[bool | None, Query(description="Only verified (true) or unverified (false) providers")] = None,
    licenseType: Annotated[list[Label] | None, Query(max_length=20, description="Licence type, e.g. Apache-2.0 (any of)")] = None,  # noqa: N803
    commercialUse: Annotated[bool | None, Query(description="A licence allows commercial use")] = None,  # noqa: N803
    minPrice: Annotated[float | None, Query(ge=0, le=1e9, description="Lowest 'price from'")] = None,  # noqa: N803
    maxPrice: Annotated[float | None, Query(ge=0, le=1e9, description="Highest 'price from'")] = None,  # noqa: N803
    minRating: Annotated[float | None, Query(ge=0, le=5, description="Lowest average overall rating")] = None,  # noqa: N803
    tags: Annotated[list[Label] | None, Query(max_length=20, description="Tags (repeatable: all of)")] = None,
    minContextLength: Annotated[int | None, Query(ge=0, le=10**9)] = None,  # noqa: N803
    maxContextLength: Annotated[int | None, Query(ge=0, le=10**9)] = None,  # noqa: N803
    minParameters: Annotated[int | None, Query(ge=0, le=10**13, description="Parameter count")] = None,  # noqa: N803
    maxParameters: Annotated[int | None, Query(ge=0, le=10**13)] = None,  # noqa: N803
    sort: Annotated[s.SortKey, Query(description="relevance (text match, then popularity), rating, popularity, "
                                                 "newest, price (lowest 'price from' first), name")] = "relevance",
) -> service.SearchFilters:
    """The facets of a search, from the query string. Unknown values are REQ_001, not empty results."""
    return service.SearchFilters(
        q=q, categories=tuple(category_keys or ()), providers=tuple(provider_keys or ()), verified=verified,
        license_types=tuple(licenseType or ()), commercial_use=commercialUse, min_price=minPrice, max_price=maxPrice,
        min_rating=minRating, tags=tuple(tags or ()), min_context_length=minContextLength,
        max_context_length=maxContextLength, min_parameters=minParameters, max_parameters=maxParameters, sort=sort,
    )


FiltersDep = Annotated[service.SearchFilters, Depends(search_filters)]
PageDep = Annotated[PageParams, Depends(page_params)]
CategoryFilter = Annotated[Key | None, Query(description="Only this category (slug or id)")]


def _page(items, cursor) -> dict:  # noqa: ANN001
    return {"items": items, "next_cursor": cursor}


# --- listings -----------------------------------------------------------------------------------------


def _listings_page(session: Session, principal: Principal, filters: service.SearchFilters,
                   params: PageParams) -> dict:
    return _page(*service.list_listings(session=session, actor=principal, filters=filters, params=params))


@router.get("/models", response_model=Page[s.MarketplaceModel], summary="List marketplace models")
def list_models(session: SessionDep, filters: FiltersDep, params: PageDep,
                principal: Principal = require(READ)) -> dict:
    """Listings you can see, with the same filters and sorts as `/search` (without facet counts)."""
    return _listings_page(session, principal, filters, params)


@router.post("/models", response_model=s.MarketplaceModel, status_code=201, summary="Publish a model",
             responses=error_responses(404, 409))
def publish_model(body: s.ListingCreate, session: SessionDep,
                  principal: Principal = require(READ)) -> s.MarketplaceModel:
    """Two kinds of listing:

    - an external provider's model: `name`, `category`, `provider` (a known slug, or an object to create
      one) and `licenses` are required; needs `marketplace:write` (admins);
    - a company model from the catalog: `sourceModelId`; name, version, description, category, tags,
      specifications and licence default from the catalog model, visibility to `internal`; needs
      `model:write` (ML engineers) and a model you can see (else MODEL_001). One live listing per
      catalog model (MARKET_002).
    """
    doc = service.create_listing(session=session, actor=principal, data=body)
    session.commit()
    return doc


@router.get("/models/{modelId}", response_model=s.MarketplaceModel, summary="Get model details",
            responses=error_responses(404))
def get_model(modelId: ModelId, session: SessionDep,  # noqa: N803
              principal: Principal = require(READ)) -> s.MarketplaceModel:
    """The design's Marketplace Model. `ratings`, `provider.rating`, `provider.totalModels`, `usage` and
    `badges` are computed from reviews, listings and usage counters on every read. A company listing
    also shows `sourceModel`: the catalog model's versions, metrics and endpoints."""
    return service.get_listing(session=session, actor=principal, listing_id=modelId)


@router.put("/models/{modelId}", response_model=s.MarketplaceModel, summary="Update listing",
            responses=error_responses(404))
def update_model(modelId: ModelId, body: s.ListingUpdate, session: SessionDep,  # noqa: N803
                 principal: Principal = require(READ)) -> s.MarketplaceModel:
    """Change the fields you send (`pricing`, `licenses`, `tags`, `features`, `specifications` and
    `support` are replaced whole). Needs
    `marketplace:write`, or being the publisher of a company listing with `model:write`. Only
    `marketplace:write` may set `featuredRank`. Subscribers keep the price and quota they signed up for
    until they change tier."""
    doc = service.update_listing(session=session, actor=principal, listing_id=modelId, data=body)
    session.commit()
    return doc


@router.delete("/models/{modelId}", status_code=204, summary="Remove listing", responses=error_responses(404))
def remove_model(modelId: ModelId, session: SessionDep,  # noqa: N803
                 principal: Principal = require(READ)) -> Response:
    """Takes the listing off the marketplace (needs `marketplace:delete`, or being the publisher of a
    company listing with `model:write`). Live subscriptions end with their current paid period."""
    service.remove_listing(session=session, actor=principal, listing_id=modelId)
    session.commit()
    return Response(status_code=204)


# --- categories and providers -------------------------------------------------------------------------


@router.get("/categories", response_model=Page[s.CategoryRead], summary="List categories")
def list_categories(session: SessionDep, principal: Principal = require(READ)) -> dict:
    """Every category, with the number of listings you can see in it (one page: there are few)."""
    return _page(service.list_categories(session=session, actor=principal), None)


@router.get("/categories/{category}/models", response_model=Page[s.MarketplaceModel],
            summary="Models by category", responses=error_responses(404))
def models_by_category(category: Annotated[str, Path(pattern=ID_PATTERN, description="Category slug or id")],
                       session: SessionDep, filters: FiltersDep, params: PageDep,
                       principal: Principal = require(READ)) -> dict:
    """Listings of one category (MARKET_001 if it does not exist), with the filters of `/search`."""
    found = service.get_category(session=session, actor=principal, category=category)
    return _listings_page(session, principal, replace(filters, categories=(found.id,)), params)


@router.get("/providers", response_model=Page[s.ProviderRead], summary="List providers")
def list_providers(session: SessionDep, params: PageDep, principal: Principal = require(READ)) -> dict:
    """Providers by name, each with `rating` (average overall rating of the reviews of its listings)
    and `totalModels` (its listings you can see)."""
    return _page(*service.list_providers(session=session, actor=principal, params=params))


@router.get("/providers/{provider}/models", response_model=Page[s.MarketplaceModel],
            summary="Models by provider", responses=error_responses(404))
def models_by_provider(provider: Annotated[str, Path(pattern=ID_PATTERN, description="Provider slug or id")],
                       session: SessionDep, filters: FiltersDep, params: PageDep,
                       principal: Principal = require(READ)) -> dict:
    """Listings of one provider (MARKET_001 if it does not exist), with the filters of `/search`."""
    found = service.get_provider(session=session, actor=principal, provider=provider)
    return _listings_page(session, principal, replace(filters, providers=(found.id,)), params)


# --- search and discovery -----------------------------------------------------------------------------


@router.get("/search", response_model=s.SearchResult, summary="Search marketplace")
def search(session: SessionDep, filters: FiltersDep, params: PageDep,
           principal: Principal = require(READ)) -> s.SearchResult:
    """Search by words and meaning, with facets.

    `q` finds listings two ways, as the model registry's hybrid search does: by keyword (every word of
    `q` must start a word of the name, tags, provider, category, description, features or licence, or
    the word's English stem: "analyzers" finds "Analyzer"; "for", "the" and other stop words are left
    out) and by meaning (the sentence embedding of `q` against each listing's, all-MiniLM-L6-v2, kept
    when the cosine similarity is at least 0.3 and at least 0.6 × the best one's). Relevance fuses the
    two rankings by reciprocal rank (Σ 1/(60 + rank)); ties by popularity.

    Filters combine with AND; repeated values of `category`, `provider`, `licenseType` combine with OR,
    repeated `tags` with AND. A value that matches no category, provider, licence type or tag is REQ_001.
    `total` counts all matches; `facets` count, for each facet, the listings that match every *other*
    filter (the number you would get by choosing that value). When nothing matches, `suggestions` lists
    changes that would find something (drop a filter, a similar or fewer words), most results first.
    """
    return service.search(session=session, actor=principal, filters=filters, params=params)


@router.get("/trending", response_model=Page[s.ScoredModel], summary="Trending models")
def trending(session: SessionDep, params: PageDep, category: CategoryFilter = None,
             principal: Principal = require(READ)) -> dict:
    """Listings with recent activity, by trending score (only scores above 0):

    `score = Σ_{d=0..13} activity(d) · 2^(−d/3)`, d = days ago (0 = today), a 14-day window with a
    3-day half-life, where `activity(d)` = distinct users with requests that day + 5 × subscriptions and
    purchases started + 3 × reviews written + 2 × favourites added that day.
    """
    return _page(*service.trending(session=session, actor=principal, params=params, category=category))


@router.get("/featured", response_model=Page[s.ScoredModel], summary="Featured models")
def featured(session: SessionDep, params: PageDep, category: CategoryFilter = None,
             principal: Principal = require(READ)) -> dict:
    """Listings curated by admins, in the order they set (`featuredRank`, 1 first; `score` = the rank)."""
    return _page(*service.featured(session=session, actor=principal, params=params, category=category))


@router.get("/new", response_model=Page[s.ScoredModel], summary="New models")
def new_models(session: SessionDep, params: PageDep, category: CategoryFilter = None,
               principal: Principal = require(READ)) -> dict:
    """Listings by release date, newest first (`score` = the release date as a proleptic ordinal day)."""
    return _page(*service.newest(session=session, actor=principal, params=params, category=category))


@router.get("/popular", response_model=Page[s.ScoredModel], summary="Popular models")
def popular(session: SessionDep, params: PageDep, category: CategoryFilter = None,
            principal: Principal = require(READ)) -> dict:
    """Listings by all-time use: `score` = reach, the number of distinct users who ever made a request
    to the model or downloaded it; ties by all-time requests."""
    return _page(*service.popular(session=session, actor=principal, params=params, category=category))


# --- reviews ------------------------------------------------------------------------------------------


@router.get("/models/{modelId}/reviews", response_model=Page[s.ReviewRead], summary="Get reviews",
            responses=error_responses(404))
def list_reviews(modelId: ModelId, session: SessionDep, params: PageDep,  # noqa: N803
                 rating: Annotated[int | None, Query(ge=1, le=5, description="Only this overall rating")] = None,
                 verifiedOnly: Annotated[bool, Query(description="Only reviews marked verified use")] = False,  # noqa: N803
                 principal: Principal = require(READ)) -> dict:
    """A listing's reviews (and quick star ratings), newest first."""
    return _page(*service.list_reviews(session=session, actor=principal, listing_id=modelId, params=params,
                                       rating=rating, verified_only=verifiedOnly))


@router.post("/models/{modelId}/reviews", response_model=s.ReviewRead, status_code=201, summary="Add review",
             responses=error_responses(404, 409))
def add_review(modelId: ModelId, body: s.ReviewCreate, session: SessionDep,  # noqa: N803
               principal: Principal = require(READ)) -> s.ReviewRead:
    """One review per user and listing (a second is MARKET_002 with the existing `reviewId`): an
    overall `rating` 1–5, optional `aspects` (performance, accuracy, easeOfUse, support, value; 1–5),
    `title` (≤120 characters) and `text` (≤5000). Written while you hold a live subscription or a
    licence, it is marked `verifiedUse`."""
    review = service.create_review(session=session, actor=principal, listing_id=modelId, rating=body.rating,
                                   aspects=body.aspects, title=body.title, text=body.text)
    session.commit()
    return review


@router.put("/models/{modelId}/reviews/{reviewId}", response_model=s.ReviewRead, summary="Update review",
            responses=error_responses(404))
def update_review(modelId: ModelId, reviewId: ReviewId, body: s.ReviewUpdate,  # noqa: N803
                  session: SessionDep, principal: Principal = require(READ)) -> s.ReviewRead:
    """Only the author edits a review (else MARKET_003). Sent fields change; `title`/`text` null clears."""
    review = service.update_review(session=session, actor=principal, listing_id=modelId, review_id=reviewId,
                                   changes=body)
    session.commit()
    return review


@router.delete("/models/{modelId}/reviews/{reviewId}", status_code=204, summary="Delete review",
               responses=error_responses(404))
def delete_review(modelId: ModelId, reviewId: ReviewId, session: SessionDep,  # noqa: N803
                  reason: Annotated[str | None, Query(max_length=500, pattern=r"^[^\x00-\x1f]*$",
                                                      description="Why an admin removes it (audited)")] = None,
                  principal: Principal = require(READ)) -> Response:
    """The author deletes their review; `marketplace:delete` (admins) may remove anyone's, which is
    audited with the review's author, rating and title. Anyone else: MARKET_003."""
    service.delete_review(session=session, actor=principal, listing_id=modelId, review_id=reviewId, reason=reason)
    session.commit()
    return Response(status_code=204)


@router.post("/models/{modelId}/rate", response_model=s.ReviewRead, summary="Rate model",
             responses={201: {"model": s.ReviewRead, "description": "A new rating-only review"},
                        **error_responses(404)})
def rate_model(modelId: ModelId, body: s.RateRequest, response: Response, session: SessionDep,  # noqa: N803
               principal: Principal = require(READ)) -> s.ReviewRead:
    """The quick star rating: sets the overall rating of your review (200), or creates a rating-only
    review without title or text (201)."""
    review, created = service.rate(session=session, actor=principal, listing_id=modelId, rating=body.rating)
    session.commit()
    response.status_code = 201 if created else 200
    return review


# --- licence, pricing, subscriptions, purchases, usage -----------------------------------------------


@router.get("/models/{modelId}/license", response_model=s.LicenseInfo, summary="Get license info",
            responses=error_responses(404))
def get_license(modelId: ModelId, session: SessionDep,  # noqa: N803
                principal: Principal = require(READ)) -> s.LicenseInfo:
    """The listing's licences and whether you may acquire it: a user whose cost centre is marked
    commercial needs a licence that allows commercial use (`yourUse.reason` says why not)."""
    return service.license_info(session=session, actor=principal, listing_id=modelId)


@router.get("/models/{modelId}/pricing", response_model=s.PricingInfo, summary="Get pricing",
            responses=error_responses(404))
def get_pricing(modelId: ModelId, session: SessionDep,  # noqa: N803
                principal: Principal = require(READ)) -> s.PricingInfo:
    """Tiers (`price` a number or "Contact", `requests` a number or "Unlimited"), the one-time licence
    price if sold, and your live subscription."""
    return service.pricing_info(session=session, actor=principal, listing_id=modelId)


@router.post("/models/{modelId}/subscribe", response_model=s.SubscribeResult, summary="Subscribe to model",
             responses={201: {"model": s.SubscribeResult, "description": "A new subscription"},
                        **error_responses(404, 409)})
def subscribe(modelId: ModelId, body: s.SubscribeRequest, response: Response, session: SessionDep,  # noqa: N803
              principal: Principal = require(READ)) -> s.SubscribeResult:
    """`{"tier": "Pro"}`.

    - No live subscription: creates one (201) with the first period's billing record and the tier's
      request quota; periods are monthly (or yearly) from now.
    - Another tier: changes tier now (200). Proration: a billing record of
      `(new price − old price) × (period end − now) / (period end − period start)`, rounded half-up to
      the cent (negative = credit). The new quota applies to the whole current period; requests already
      made in it still count. Period boundaries do not move.
    - The same tier: MARKET_002, unless the subscription is set to cancel, which resumes it (200).
    - Refused with MARKET_003: a "Contact" tier (`reason` contact_sales), a deprecated listing, or a
      licence that forbids commercial use when your cost centre is commercial (`commercial_use_forbidden`).

    Ask `POST /quote` first to see the amount. Send its `quotedAt` and `amount` back as `quotedAt` and
    `expectedAmount`: a tier change is then prorated at the quote's moment, so you are billed exactly the
    quoted amount; a quote older than 15 minutes or from an earlier billing period is MARKET_002
    `quote_expired`, and an action that would bill anything else (the tier's price changed, the period
    ended) is MARKET_002 `price_changed`, with nothing billed.
    """
    result = service.subscribe(session=session, actor=principal, listing_id=modelId, tier=body.tier,
                               quoted_at=body.quoted_at, expected_amount=body.expected_amount)
    session.commit()
    response.status_code = 201 if result.action == "created" else 200
    return result


@router.delete("/models/{modelId}/subscribe", response_model=s.SubscriptionRead, summary="Cancel subscription",
               responses=error_responses(404))
def cancel_subscription(modelId: ModelId, session: SessionDep,  # noqa: N803
                        quotedAt: Annotated[UtcInstant | None, Query(  # noqa: N803
                            description="`quotedAt` of the cancel quote you confirm: refused (MARKET_002 "
                                        "`quote_expired`) once a new billing period has started")] = None,
                        principal: Principal = require(READ)) -> s.SubscriptionRead:
    """Cancel at the end of the current period: nothing more is billed or refunded, use continues until
    `endsAt` (`POST /quote` with `{"action": "cancel"}` says when, before you cancel). Subscribing to the
    same tier before then resumes it. MARKET_001 if you have no live subscription."""
    sub = service.cancel_subscription(session=session, actor=principal, listing_id=modelId, quoted_at=quotedAt)
    session.commit()
    return sub


@router.post("/models/{modelId}/quote", response_model=s.Quote, summary="Quote a subscription change, cancellation or purchase",
             responses=error_responses(404, 409))
def quote(modelId: ModelId, body: s.QuoteRequest, reader: ReadSessionDep,  # noqa: N803
          principal: Principal = require(READ, read_only=True)) -> s.Quote:
    """What an action would bill, before you take it; nothing is written.

    - `{"action": "subscribe", "tier": "Pro"}`: a new subscription (its first period), a tier change
      (the prorated difference for the rest of the period, negative = credit) or a resume (nothing);
    - `{"action": "cancel"}`: nothing is billed or refunded; `activeUntil` is when use ends;
    - `{"action": "purchase"}`: the one-time licence price.

    `amount` is what the action bills, computed by the same function that bills it; `due` what is billed
    with it because a period has started and is not billed yet. Send `quotedAt` and `amount` back with
    `POST /subscribe` (or `amount` with `POST /purchase`) to be billed exactly that. Refused with the
    errors the action itself would give (MARKET_002 same tier or already bought, MARKET_003
    contact_sales / not_for_sale / commercial_use_forbidden, MARKET_001 no subscription to cancel).
    """
    return service.quote(session=reader, actor=principal, listing_id=modelId, action=body.action, tier=body.tier)


@router.post("/models/{modelId}/purchase", response_model=s.PurchaseRead, status_code=201,
             summary="Purchase model", responses=error_responses(404, 409))
def purchase(modelId: ModelId, session: SessionDep, body: s.PurchaseRequest | None = None,  # noqa: N803
             principal: Principal = require(READ)) -> s.PurchaseRead:
    """Buy the one-time licence of a listing that sells one (`pricing.oneTimePrice`; else MARKET_003
    `not_for_sale`). Once per user (MARKET_002); the licence rule of `subscribe` applies. With
    `{"expectedAmount": …}` (a quote's `amount`) only at that price (else MARKET_002 `price_changed`)."""
    row = service.purchase(session=session, actor=principal, listing_id=modelId,
                           expected_amount=body.expected_amount if body else None)
    session.commit()
    return row


@router.get("/models/{modelId}/usage", response_model=s.UsageReport, summary="Get usage stats",
            responses=error_responses(404))
def get_usage(modelId: ModelId, session: SessionDep,  # noqa: N803
              days: Annotated[int, Query(ge=1, le=90, description="Days of the daily series")] = 30,
              principal: Principal = require(READ)) -> s.UsageReport:
    """Your use of the listing: your live subscription with requests used against the period's quota,
    requests and latency per day, totals, and your billing records. (The listing's public totals are
    its `usage`.)"""
    return service.usage_report(session=session, actor=principal, listing_id=modelId, days=days)


@router.get("/subscriptions", response_model=Page[s.SubscriptionRead], summary="Your subscriptions")
def my_subscriptions(session: SessionDep, params: PageDep,
                     includeEnded: Annotated[bool, Query()] = False,  # noqa: N803
                     principal: Principal = require(READ)) -> dict:
    """Your subscriptions, newest first, each with its current period and quota use."""
    return _page(*service.list_subscriptions(session=session, actor=principal, params=params,
                                             include_ended=includeEnded))


# --- favourites ---------------------------------------------------------------------------------------


@router.get("/favorites", response_model=Page[s.MarketplaceModel], summary="Get user favorites")
def list_favorites(session: SessionDep, params: PageDep, principal: Principal = require(READ)) -> dict:
    """Your favourite listings, most recently added first."""
    return _page(*service.list_favorites(session=session, actor=principal, params=params))


@router.post("/favorites/{modelId}", response_model=s.FavoriteRead, summary="Add to favorites",
             responses={201: {"model": s.FavoriteRead, "description": "Added"}, **error_responses(404)})
def add_favorite(modelId: ModelId, response: Response, session: SessionDep,  # noqa: N803
                 principal: Principal = require(READ)) -> s.FavoriteRead:
    """Adds the listing to your favourites (201); already there: 200, nothing changes."""
    row, created = service.add_favorite(session=session, actor=principal, listing_id=modelId)
    session.commit()
    response.status_code = 201 if created else 200
    return row


@router.delete("/favorites/{modelId}", status_code=204, summary="Remove from favorites",
               responses=error_responses(404))
def remove_favorite(modelId: ModelId, session: SessionDep,  # noqa: N803
                    principal: Principal = require(READ)) -> Response:
    """Removes the listing from your favourites (204 whether or not it was one)."""
    service.remove_favorite(session=session, actor=principal, listing_id=modelId)
    session.commit()
    return Response(status_code=204)
