"""The model marketplace: listings, discovery, reviews, subscriptions and billing, purchases, usage, favourites.

Keyword-only functions, session first, actor explicit; the REST routes, the Reflex pages and the
endpoints' request counter call the same functions, and every entry point that acts for a principal
authorizes it itself (`backend.core.authorization.authorize`, with the listing, review or catalog model
as the resource). Functions that return documents return the wire schemas (`MarketplaceModel`,
`SearchResult` ...) so a page can render them as they are.

One module per concern; this package re-exports the entry points (`from backend.marketplace import
service`):

- `access`: visibility, the listing row by id or slug, authorization of changes, the licence check;
- `catalogue`: the snapshot of visible listings, their computed aggregates and documents;
- `search`: filters, relevance, facets, keyset pages, suggestions when nothing matches; `search_index`:
  the keyword index (stems, prefixes) and sentence embeddings it ranks with; `discovery`: trending,
  popular, new, featured;
- `categories`: categories and providers; `catalog_models`: the model registry behind company listings;
- `publishing`: create, update and remove listings; `reviews`; `favorites`;
- `subscriptions` (periods, proration, renewal, quotes), `purchases` (one-time licences, terms, `quote`),
  `counters` and `usage` (quotas and the usage report); `money` and `text` hold the small helpers.
"""

from backend.marketplace.service.access import (
    can_curate,
    find_listing_for_model,
    get_listing_row,
    license_check,
)
from backend.marketplace.service.catalog_models import category_for_model, lookup_source_model
from backend.marketplace.service.catalogue import ASPECTS, Catalogue
from backend.marketplace.service.categories import get_category, get_provider, list_categories, list_providers
from backend.marketplace.service.contact import sales_contact
from backend.marketplace.service.counters import requests_used
from backend.marketplace.service.discovery import featured, landing, newest, popular, set_featured, trending
from backend.marketplace.service.favorites import add_favorite, is_favorite, list_favorites, remove_favorite
from backend.marketplace.service.money import add_months, period_bounds, period_index_at, prorated_cents
from backend.marketplace.service.publishing import (
    create_listing,
    publish_listing,
    remove_listing,
    update_listing,
)
from backend.marketplace.service.purchases import license_info, pricing_info, purchase, quote, quote_purchase
from backend.marketplace.service.reviews import (
    create_review,
    delete_review,
    list_reviews,
    own_review,
    rate,
    update_review,
)
from backend.marketplace.service.search import SearchFilters, get_listing, list_listings, search
from backend.marketplace.service.subscriptions import (
    QUOTE_VALID,
    cancel_subscription,
    find_live_subscription,
    list_subscriptions,
    quote_cancel,
    quote_subscription,
    renew_subscriptions,
    subscribe,
    subscription_read,
)
from backend.marketplace.service.usage import UsageResult, company_listing_of, record_usage, usage_report

__all__ = [
    "ASPECTS",
    "Catalogue",
    "QUOTE_VALID",
    "SearchFilters",
    "UsageResult",
    "add_favorite",
    "add_months",
    "can_curate",
    "cancel_subscription",
    "category_for_model",
    "company_listing_of",
    "create_listing",
    "create_review",
    "delete_review",
    "featured",
    "find_listing_for_model",
    "find_live_subscription",
    "get_category",
    "get_listing",
    "get_listing_row",
    "get_provider",
    "is_favorite",
    "landing",
    "license_check",
    "license_info",
    "list_categories",
    "list_favorites",
    "list_listings",
    "list_providers",
    "list_reviews",
    "list_subscriptions",
    "lookup_source_model",
    "newest",
    "own_review",
    "period_bounds",
    "period_index_at",
    "popular",
    "pricing_info",
    "prorated_cents",
    "publish_listing",
    "purchase",
    "quote",
    "quote_cancel",
    "quote_purchase",
    "quote_subscription",
    "rate",
    "record_usage",
    "remove_favorite",
    "remove_listing",
    "renew_subscriptions",
    "requests_used",
    "sales_contact",
    "search",
    "set_featured",
    "subscribe",
    "subscription_read",
    "trending",
    "update_listing",
    "update_review",
    "usage_report",
]
