"""Browsing and searching: filters, relevance, facet counts and keyset pages over the catalogue snapshot."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlmodel import Session, select

from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.errors import InvalidRequest
from backend.core.pagination import PageParams, decode_cursor, encode_cursor
from backend.marketplace import schemas as s
from backend.marketplace.models import Category, Provider
from backend.marketplace.service.access import READ, get_listing_row
from backend.marketplace.service.catalog_models import lookup_source_model
from backend.marketplace.service.catalogue import Catalogue, Entry
from backend.marketplace.service.money import from_cents
from backend.marketplace.service.text import words

MAX_QUERY_TOKENS = 10


@dataclass(frozen=True)
class SearchFilters:
    """Facets of a search; lists are OR within a facet (tags: AND), facets are AND across."""

    q: str | None = None
    categories: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    verified: bool | None = None
    license_types: tuple[str, ...] = ()
    commercial_use: bool | None = None
    min_price: float | None = None
    max_price: float | None = None
    min_rating: float | None = None
    tags: tuple[str, ...] = ()
    min_context_length: int | None = None
    max_context_length: int | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    sort: str = "relevance"


PRICE_BUCKETS = [("Free", 0.0, 0.0), ("Up to 100", 0.01, 100.0), ("100 to 500", 100.01, 500.0),
                 ("Over 500", 500.01, None)]
RATING_BUCKETS = [("4 stars & up", 4.0), ("3 stars & up", 3.0), ("2 stars & up", 2.0), ("1 star & up", 1.0)]
CONTEXT_BUCKETS = [("8K+", 8_192), ("32K+", 32_768), ("128K+", 131_072), ("1M+", 1_000_000)]
PARAMETER_BUCKETS = [("Under 1B", None, 999_999_999), ("1B–10B", 1_000_000_000, 9_999_999_999),
                     ("10B–100B", 10_000_000_000, 99_999_999_999), ("100B+", 100_000_000_000, None)]


def _in_range(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _named_ids(rows: Iterable[Category | Provider], keys: Iterable[str], problems: dict[str, str],
               facet: str) -> set[str]:
    """Ids of the rows that `keys` name by slug or id; a key that names none is a problem of `facet`."""
    by_key = {r.slug: r.id for r in rows} | {r.id: r.id for r in rows}
    ids = set()
    for key in keys:
        found = by_key.get(key.lower(), by_key.get(key))
        if found is None:
            problems[facet] = f"unknown {facet} '{key}'"
        else:
            ids.add(found)
    return ids


class _Query:
    """One search over a catalogue: validated filters, the predicates, relevance scores."""

    def __init__(self, cat: Catalogue, filters: SearchFilters):
        self.cat, self.f = cat, filters
        self._validate()
        self.tokens = words(filters.q or "")[:MAX_QUERY_TOKENS]
        self.predicates: dict[str, Callable[[Entry], bool]] = {}
        self._build()

    def _validate(self) -> None:
        f, cat, problems = self.f, self.cat, {}
        self.category_ids = _named_ids(cat.session.exec(select(Category)).all(), f.categories, problems, "category")
        self.provider_ids = _named_ids(cat.session.exec(select(Provider)).all(), f.providers, problems, "provider")
        known_licenses = {t for e in cat.entries.values() for t in e.license_types}
        for t in f.license_types:
            if t.lower() not in known_licenses:
                problems["licenseType"] = f"unknown licence type '{t}'"
        known_tags = {t for e in cat.entries.values() for t in e.tags}
        for t in f.tags:
            if t.lower() not in known_tags:
                problems["tags"] = f"unknown tag '{t}'"
        for low, high, name in ((f.min_price, f.max_price, "maxPrice"), (f.min_rating, None, "minRating"),
                                (f.min_context_length, f.max_context_length, "maxContextLength"),
                                (f.min_parameters, f.max_parameters, "maxParameters")):
            if low is not None and high is not None and low > high:
                problems[name] = "must not be below the minimum"
        if f.sort not in ("relevance", "rating", "popularity", "newest", "price", "name"):
            problems["sort"] = f"unknown sort '{f.sort}'"
        if problems:
            raise InvalidRequest("Unknown or inconsistent search filters", problems)

    def _build(self) -> None:
        f, cat, p = self.f, self.cat, self.predicates
        if self.tokens:
            p["q"] = lambda e: self.relevance(e) > 0
        if self.category_ids:
            p["category"] = lambda e: e.category.id in self.category_ids
        if self.provider_ids:
            p["provider"] = lambda e: e.provider.id in self.provider_ids
        if f.verified is not None:
            p["verified"] = lambda e: e.provider.verified == f.verified
        if f.license_types:
            wanted = {t.lower() for t in f.license_types}
            p["licenseType"] = lambda e: bool(e.license_types & wanted)
        if f.commercial_use is not None:
            p["commercialUse"] = lambda e: e.commercial_use == f.commercial_use
        if f.min_price is not None or f.max_price is not None:
            p["price"] = lambda e: _in_range(from_cents(e.price_from_cents), f.min_price, f.max_price)
        if f.min_rating is not None:
            p["rating"] = lambda e: (cat.rating_of(e.id)[0] or 0) >= f.min_rating
        if f.tags:
            wanted_tags = {t.lower() for t in f.tags}
            p["tags"] = lambda e: wanted_tags <= set(e.tags)
        if f.min_context_length is not None or f.max_context_length is not None:
            p["contextLength"] = lambda e: _in_range(e.listing.context_length, f.min_context_length,
                                                     f.max_context_length)
        if f.min_parameters is not None or f.max_parameters is not None:
            p["parameters"] = lambda e: _in_range(e.listing.parameter_count, f.min_parameters, f.max_parameters)

    @cached_property
    def _relevance(self) -> dict[str, float]:
        scores = {}
        for entry in self.cat.entries.values():
            listing = entry.listing
            fields = [
                (set(words(listing.name)), 10.0),
                (set(entry.tags) | {w for t in entry.tags for w in words(t)}, 6.0),
                (set(words(f"{entry.provider.name} {entry.category.name}")), 4.0),
                (set(words(" ".join([listing.description, *(listing.features or []),
                                      *[lic.type for lic in entry.licenses]]))), 1.0),
            ]
            total = 0.0
            for token in self.tokens:
                best = 0.0
                for vocabulary, weight in fields:
                    if token in vocabulary:
                        best = max(best, weight * 1.5)
                    elif any(w.startswith(token) for w in vocabulary):
                        best = max(best, weight)
                if best == 0:
                    total = 0.0
                    break
                total += best
            scores[entry.id] = total
        return scores

    def relevance(self, entry: Entry) -> float:
        return self._relevance.get(entry.id, 0.0) if self.tokens else 0.0

    def matches(self, entry: Entry, *, ignore: str | None = None) -> bool:
        return all(fn(entry) for name, fn in self.predicates.items() if name != ignore)

    def results(self) -> list[Entry]:
        return [e for e in self.cat.entries.values() if self.matches(e)]

    def sort_key(self, entry: Entry) -> tuple:
        """An ascending key; the listing id last makes it unique (keyset cursors rely on it)."""
        cat, sort = self.cat, self.f.sort
        reach, requests = cat.popularity(entry.id)
        if sort == "relevance":
            return (-self.relevance(entry), -reach, -requests, entry.id)
        if sort == "rating":
            rating, count = cat.rating_of(entry.id)
            return (-(rating or 0.0), -count, entry.id)
        if sort == "popularity":
            return (-reach, -requests, entry.id)
        if sort == "newest":
            return (-entry.listing.release_date.toordinal(), entry.id)
        if sort == "price":
            price = entry.price_from_cents
            return (price is None, price or 0, entry.id)
        return (entry.listing.name.lower(), entry.id)

    def facets(self) -> s.Facets:
        cat = self.cat
        others = {name: [e for e in cat.entries.values() if self.matches(e, ignore=name)]
                  for name in ("category", "provider", "licenseType", "tags", "verified", "commercialUse",
                               "price", "rating", "contextLength", "parameters")}

        def counted(entries: list[Entry], values: Callable[[Entry], Iterable[tuple[str, str]]]):
            counts: dict[tuple[str, str], int] = defaultdict(int)
            for e in entries:
                for item in set(values(e)):
                    counts[item] += 1
            return [s.FacetValue(value=v, label=label, count=n)
                    for (v, label), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1].lower()))]

        def buckets(entries, specs, value_of):
            out = []
            for label, low, high in specs:
                n = sum(1 for e in entries if _in_range(value_of(e), low, high))
                out.append(s.RangeBucket(label=label, min=low, max=high, count=n))
            return out

        licence_labels = {lic.type.lower(): lic.type for e in cat.entries.values() for lic in e.licenses}
        price_buckets = buckets(others["price"], PRICE_BUCKETS, lambda e: from_cents(e.price_from_cents))
        price_buckets.append(s.RangeBucket(label="Contact sales", count=sum(
            1 for e in others["price"] if e.price_from_cents is None)))
        return s.Facets(
            category=counted(others["category"], lambda e: [(e.category.slug, e.category.name)]),
            provider=counted(others["provider"], lambda e: [(e.provider.slug, e.provider.name)]),
            license_type=counted(others["licenseType"],
                                 lambda e: [(t, licence_labels.get(t, t)) for t in e.license_types]),
            tags=counted(others["tags"], lambda e: [(t, t) for t in e.tags])[:50],
            verified=counted(others["verified"], lambda e: [(str(e.provider.verified).lower(),
                                                             "Verified" if e.provider.verified else "Not verified")]),
            commercial_use=counted(others["commercialUse"], lambda e: [
                (str(e.commercial_use).lower(), "Commercial use" if e.commercial_use else "Non-commercial")]),
            price=price_buckets,
            rating=buckets(others["rating"], [(label, low, None) for label, low in RATING_BUCKETS],
                           lambda e: cat.rating_of(e.id)[0]),
            context_length=buckets(others["contextLength"], [(label, low, None) for label, low in CONTEXT_BUCKETS],
                                   lambda e: e.listing.context_length),
            parameters=buckets(others["parameters"], PARAMETER_BUCKETS, lambda e: e.listing.parameter_count),
        )


def keyset_page(items: list, key: Callable[[Any], tuple], params: PageParams) -> tuple[list, str | None]:
    """Sort `items` by `key` and cut the page after `params.cursor` (the key of the previous page's last item)."""
    ranked = sorted(items, key=key)
    if params.cursor:
        sample = key(ranked[0]) if ranked else None
        after = decode_cursor(params.cursor, len(sample) if sample else 0) if sample else []
        try:
            after_key = tuple(after)
            ranked = [item for item in ranked if key(item) > after_key]
        except TypeError as exc:
            raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
    page = ranked[: params.limit]
    cursor = encode_cursor(list(key(page[-1]))) if len(ranked) > params.limit else None
    return page, cursor


def search(*, session: Session, actor: Principal, filters: SearchFilters, params: PageParams,
           with_facets: bool = True) -> s.SearchResult:
    """One page of listings matching `filters`, the total, and facet counts."""
    authorize(actor, READ)
    cat = Catalogue(session, actor)
    query = _Query(cat, filters)
    results = query.results()
    page, cursor = keyset_page(results, query.sort_key, params)
    facets = query.facets() if with_facets else s.Facets(**{k: [] for k in s.Facets.model_fields})
    return s.SearchResult(items=[cat.document(e) for e in page], next_cursor=cursor, total=len(results),
                          facets=facets)


def list_listings(*, session: Session, actor: Principal, filters: SearchFilters | None = None,
                  params: PageParams) -> tuple[list[s.MarketplaceModel], str | None]:
    """A page of listings (the same filters as search, without facets)."""
    authorize(actor, READ)
    cat = Catalogue(session, actor)
    query = _Query(cat, filters or SearchFilters())
    page, cursor = keyset_page(query.results(), query.sort_key, params)
    return [cat.document(e) for e in page], cursor


def get_listing(*, session: Session, actor: Principal, listing_id: str,
                with_source: bool = True) -> s.MarketplaceModel:
    """The full listing document; for a company listing, what the catalog says about its model."""
    row = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    cat = Catalogue(session, actor)
    source = None
    if with_source and row.source_model_id:
        source = lookup_source_model(session=session, actor=actor, model_id=row.source_model_id)
    return cat.document(cat.entry(row.id), source_model=source)

