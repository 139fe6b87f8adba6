"""The browse page: the URL's query parameters are the search, so a search can be shared as a link.

Every change (search text, a facet, the sort) navigates to the new URL; loading the page reads the
parameters, asks the service for one page of results with facet counts, and shows them. The service
finds listings by keyword and by meaning; when nothing matches, the page keeps every facet on screen
and offers the service's suggestions (drop a filter, similar or fewer words) as links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.listing_card import ListingCard
from aisystem_app.state.marketplace.common import card_of, search_href
from aisystem_app.state.session import invoke
from aisystem_app.state.url import MAX_PARAM, clean_query
from backend.auth.principal import Principal
from backend.core import semantic
from backend.core.db import session_scope
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace import service as market
from backend.marketplace.service import search_index

PAGE_SIZE = 24
# URL parameter -> (facet of the search result, heading); list facets take several values (comma-separated).
LIST_FACETS = {"category": ("category", "Category"), "provider": ("provider", "Provider"),
               "licence": ("license_type", "Licence"), "tag": ("tags", "Tags")}
SINGLE_FACETS = {"verified": ("verified", "Verified provider"), "commercial": ("commercial_use", "Commercial use"),
                 "price": ("price", "Price"), "rating": ("rating", "Rating")}
FACET_ORDER = ("category", "provider", "verified", "licence", "commercial", "price", "rating", "tag")
SORTS = {"relevance": "Best match", "rating": "Highest rated", "popularity": "Most popular",
         "newest": "Newest", "price": "Lowest price", "name": "Name"}
PARAMS = frozenset({"q", "sort", *LIST_FACETS, *SINGLE_FACETS})
# A facet as the service names it in a suggestion -> the URL parameter that holds it.
FACET_PARAMS = {"category": "category", "provider": "provider", "licenseType": "licence", "tags": "tag",
                "verified": "verified", "commercialUse": "commercial", "price": "price", "rating": "rating"}


# --- URL parameters <-> search filters --------------------------------------------------------------


def clean_params(query: Mapping[str, str]) -> dict[str, str]:
    """The browse page's known, non-empty parameters of a URL query, each cut to a sane length."""
    return clean_query(query, PARAMS)


def values(params: Mapping[str, str], key: str) -> list[str]:
    """The comma-separated values of a list parameter."""
    return [v.strip() for v in params.get(key, "").split(",") if v.strip()]


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _boolean(text: str | None) -> bool | None:
    return {"true": True, "false": False}.get((text or "").lower())


def range_value(low: float | None, high: float | None) -> str:
    """A range bucket as one URL value: `min-max`, either side may be empty."""
    def part(v: float | None) -> str:
        return "" if v is None else f"{v:g}"

    return f"{part(low)}-{part(high)}"


def filters_of(params: Mapping[str, str]) -> market.SearchFilters:
    """The search the URL asks for (unparseable numbers are ignored; unknown facet values are for the
    service to refuse)."""
    low, _, high = params.get("price", "").partition("-")
    sort = params.get("sort", "relevance")
    return market.SearchFilters(
        q=params.get("q") or None,
        categories=tuple(values(params, "category")),
        providers=tuple(values(params, "provider")),
        verified=_boolean(params.get("verified")),
        license_types=tuple(values(params, "licence")),
        commercial_use=_boolean(params.get("commercial")),
        min_price=_number(low),
        max_price=_number(high),
        min_rating=_number(params.get("rating", "")),
        tags=tuple(values(params, "tag")),
        sort=sort if sort in SORTS else "relevance",
    )


def toggled(params: Mapping[str, str], key: str, value: str) -> dict[str, str]:
    """The parameters with `value` added to or removed from facet `key` (a single-value facet is replaced,
    or cleared when it already holds `value`)."""
    updated = dict(params)
    if key in LIST_FACETS:
        chosen = values(params, key)
        chosen = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
        updated[key] = ",".join(chosen)
    elif key in SINGLE_FACETS:
        updated[key] = "" if params.get(key) == value else value
    return {k: v for k, v in updated.items() if v}


def search_url(params: Mapping[str, str]) -> str:
    """The browse page's URL for these parameters, in a stable order."""
    return search_href(**{k: params[k] for k in ("q", *FACET_ORDER, "sort") if params.get(k)})


# --- facets as the sidebar shows them ---------------------------------------------------------------


@dataclass
class FacetOption:
    value: str = ""
    label: str = ""
    count: int = 0
    selected: bool = False


@dataclass
class FacetGroup:
    key: str = ""
    title: str = ""
    options: list[FacetOption] = field(default_factory=list)


def _options(facet: list, params: Mapping[str, str], key: str, every_value: bool = False) -> list[FacetOption]:
    chosen = set(values(params, key)) if key in LIST_FACETS else {params.get(key, "")}
    options = []
    for item in facet:
        if isinstance(item, s.RangeBucket):
            if item.min is None and item.max is None:
                continue  # "Contact sales" has no range the search can filter on
            value = f"{item.min:g}" if key == "rating" else range_value(item.min, item.max)
        else:
            value = item.value
        if item.count or value in chosen or every_value:
            options.append(FacetOption(value, item.label, item.count, value in chosen))
    return options


def facet_groups(facets: s.Facets, params: Mapping[str, str], every_value: bool = False) -> list[FacetGroup]:
    """The sidebar: each facet's values with their counts and whether they are chosen; with `every_value`
    (nothing matched) the values counting 0 stay too, so the sidebar keeps its shape."""
    specs = {**LIST_FACETS, **SINGLE_FACETS}
    groups = []
    for key in FACET_ORDER:
        attribute, title = specs[key]
        options = _options(getattr(facets, attribute), params, key, every_value)
        if options:
            groups.append(FacetGroup(key, title, options))
    return groups


@dataclass
class SuggestionView:
    """A change to an empty search, as a link: `Remove the filter “Category: Vision”` · `3 models`."""

    text: str = ""
    count: str = ""
    href: str = ""


def suggestion_views(suggestions: list[s.SearchSuggestion], params: Mapping[str, str]) -> list[SuggestionView]:
    """The service's suggestions as links to the browse page with that change made."""
    views = []
    for item in suggestions:
        if item.kind == "remove_filter" and item.filter in FACET_PARAMS:
            text, changed = f"Remove the filter “{item.label}”", {**params, FACET_PARAMS[item.filter]: ""}
        elif item.kind == "change_query" and item.q and item.filter in FACET_PARAMS:
            text = f"Search for “{item.q}” without the filter “{item.label}”"
            changed = {**params, "q": item.q, FACET_PARAMS[item.filter]: ""}
        elif item.kind == "change_query" and item.q and item.filter is None:
            text, changed = f"Search for “{item.q}”", {**params, "q": item.q}
        elif item.kind == "remove_query":
            text, changed = "Show every model these filters allow (without the search words)", {**params, "q": ""}
        else:
            continue
        views.append(SuggestionView(text, fmt.plural(item.total, "model"), search_url(changed)))
    return views


@dataclass
class Results:
    cards: list[ListingCard]
    total: int
    next_cursor: str | None
    groups: list[FacetGroup]
    suggestions: list[SuggestionView] = field(default_factory=list)


def run_search(params: Mapping[str, str], cursor: str | None):
    """A unit of work: one page of results for the URL's parameters, with the facets."""

    def work(session: Session, principal: Principal) -> Results:
        result = market.search(session=session, actor=principal, filters=filters_of(params),
                               params=PageParams(limit=PAGE_SIZE, cursor=cursor))
        return Results([card_of(d) for d in result.items], result.total, result.next_cursor,
                       facet_groups(result.facets, params, every_value=result.total == 0),
                       suggestion_views(result.suggestions, params))

    return work


def warm_search() -> None:
    """Get search by meaning ready in this process (run in a background thread, see `semantic.preload`)."""
    with session_scope(write=False) as session:
        search_index.warm(session=session)


class SearchState(rx.State):
    """Results, facets and paging of the browse page; the filters live in the URL."""

    loading: bool = True
    query: str = ""
    shown_query: str = ""  # the search text of the results on screen (lags `query` while loading)
    sort: str = "relevance"
    cards: list[ListingCard] = []
    groups: list[FacetGroup] = []
    suggestions: list[SuggestionView] = []
    total: int = 0
    filtered: bool = False
    page_number: int = 1
    has_next: bool = False
    _params: dict[str, str] = {}
    _cursors: list[str | None] = [None]
    _next_cursor: str | None = None

    @rx.var
    def total_label(self) -> str:
        """`24 models`."""
        return fmt.plural(self.total, "model")

    @rx.var
    def empty_title(self) -> str:
        """What the empty result says: `No models match “sentiment”`."""
        return f"No models match “{self.shown_query}”" if self.shown_query else "No models match these filters"

    @rx.event(background=True)
    async def load(self):
        """Read the URL's search and show its first page."""
        async with self:
            self._params = clean_params(self.router.url.query_parameters)
            self.query = self._params.get("q", "")
            self.sort = filters_of(self._params).sort
            self.filtered = bool(set(self._params) - {"sort"})
            self._cursors = [None]
        events = await self._fetch()
        if not events:  # the search ran for a signed-in user (a signed-out tab reads nothing, not even this)
            semantic.preload(warm_search)  # the encoder and the listings' vectors, ready for a search by meaning
        return events

    @rx.event(background=True)
    async def next_page(self):
        """Show the next page of results."""
        async with self:
            if self._next_cursor is None:
                return None
            self._cursors = [*self._cursors, self._next_cursor]
        return await self._fetch()

    @rx.event(background=True)
    async def previous_page(self):
        """Show the previous page of results."""
        async with self:
            if len(self._cursors) < 2:
                return None
            self._cursors = self._cursors[:-1]
        return await self._fetch()

    async def _fetch(self):
        async with self:
            self.loading = True
            params, cursor = dict(self._params), self._cursors[-1]
        outcome = await invoke(self, run_search(params, cursor))
        async with self:
            self.loading = False
            results: Results = outcome.value if outcome.ok else Results([], 0, None, [])
            self.cards, self.total, self.groups = results.cards, results.total, results.groups
            self.suggestions = results.suggestions
            self._next_cursor, self.has_next = results.next_cursor, results.next_cursor is not None
            self.page_number = len(self._cursors)
            self.shown_query = params.get("q", "")
        return outcome.events or None

    @rx.event
    def submit_query(self, form: dict):
        """Search for the text of the search box (keeping the facets)."""
        text = str(form.get("q", ""))[:MAX_PARAM].strip()
        return rx.redirect(search_url({**self._params, "q": text}))

    @rx.event
    def toggle(self, key: str, value: str):
        """Add or remove a facet value."""
        if key not in LIST_FACETS and key not in SINGLE_FACETS:
            return None
        return rx.redirect(search_url(toggled(self._params, key, str(value)[:MAX_PARAM])))

    @rx.event
    def change_sort(self, sort: str):
        """Order the results differently."""
        return rx.redirect(search_url({**self._params, "sort": sort if sort in SORTS else ""}))

    @rx.event
    def clear(self):
        """Drop every filter and the search text."""
        return rx.redirect(search_url({"sort": self._params.get("sort", "")}))
