"""Browsing and searching: filters, relevance, facet counts, keyset pages over the catalogue snapshot, and
what to change when nothing matches.

Search words find listings the way the model registry finds models: by keyword (every word, as the
beginning of a word or of its stem: "analyzers" finds "Analyzer") and by meaning (sentence embeddings,
cut off by relevance), the two rankings fused by reciprocal rank (see `search_index`).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from sqlmodel import Session, select

from backend.auth.principal import Principal
from backend.core import keywords, semantic
from backend.core.authorization import authorize
from backend.core.errors import InvalidRequest
from backend.core.pagination import PageParams, decode_cursor, encode_cursor
from backend.marketplace import schemas as s
from backend.marketplace.models import Category, Provider
from backend.marketplace.service.access import READ, get_listing_row
from backend.marketplace.service.catalog_models import lookup_source_model
from backend.marketplace.service.catalogue import Catalogue, Entry
from backend.marketplace.service.money import from_cents
from backend.marketplace.service.search_index import keyword_scores, semantic_scores

MAX_SUGGESTIONS = 5
# The facets a suggestion may drop, with how the suggestion names them.
FILTER_LABELS = {"category": "Category", "provider": "Provider", "licenseType": "Licence", "tags": "Tags",
                 "verified": "Verified provider", "commercialUse": "Commercial use", "price": "Price",
                 "rating": "Minimum rating", "contextLength": "Context length", "parameters": "Parameters"}


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
               facet: str, names: list[str] | None = None) -> set[str]:
    """Ids of the rows that `keys` name by slug or id (their names appended to `names`); a key that names
    none is a problem of `facet`."""
    rows = list(rows)
    by_key = {r.slug: r for r in rows} | {r.id: r for r in rows}
    ids = set()
    for key in keys:
        found = by_key.get(key.lower(), by_key.get(key))
        if found is None:
            problems[facet] = f"unknown {facet} '{key}'"
        elif found.id not in ids:
            ids.add(found.id)
            if names is not None:
                names.append(found.name)
    return ids


class _Query:
    """One search over a catalogue: validated filters, the predicates, relevance scores."""

    def __init__(self, cat: Catalogue, filters: SearchFilters):
        self.cat, self.f = cat, filters
        self._validate()
        self.terms = keywords.query_terms(filters.q)
        self.predicates: dict[str, Callable[[Entry], bool]] = {}
        self._build()

    def _validate(self) -> None:
        f, cat, problems = self.f, self.cat, {}
        self.names: dict[str, list[str]] = {"category": [], "provider": []}
        self.category_ids = _named_ids(cat.session.exec(select(Category)).all(), f.categories, problems, "category",
                                       self.names["category"])
        self.provider_ids = _named_ids(cat.session.exec(select(Provider)).all(), f.providers, problems, "provider",
                                       self.names["provider"])
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
        if self.terms:
            p["q"] = lambda e: e.id in self.scores
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
    def keyword(self) -> dict[str, float]:
        """Visible listings containing every search word → keyword score (higher is better)."""
        scores = keyword_scores(self.cat.session, self.terms)
        return {i: v for i, v in scores.items() if i in self.cat.entries}

    @cached_property
    def semantic(self) -> dict[str, float]:
        """Visible listings close in meaning to the search words → cosine similarity (cut off by relevance)."""
        return semantic_scores(self.cat.session, self.f.q or "", list(self.cat.entries))

    @cached_property
    def scores(self) -> dict[str, float]:
        """The listings the search words find → relevance: the keyword and meaning rankings fused by
        reciprocal rank (a listing found both ways ranks above one found one way)."""
        if not self.terms:
            return {}
        by_keyword = sorted(self.keyword, key=lambda i: (-self.keyword[i], i))
        by_meaning = sorted(self.semantic, key=lambda i: (-self.semantic[i], i))
        return {i: round(v, 9) for i, v in semantic.fuse(by_keyword, by_meaning).items()}

    def relevance(self, entry: Entry) -> float:
        return self.scores.get(entry.id, 0.0)

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

    def without(self, name: str) -> list[Entry]:
        """The listings matching every filter but `name` (what dropping that filter would show)."""
        return [e for e in self.cat.entries.values() if self.matches(e, ignore=name)]

    def facets(self, *, every_value: bool = False) -> s.Facets:
        """Facet counts; with `every_value`, the values no listing of the result has are listed too, with
        a count of 0 (an empty result keeps its facets on screen)."""
        cat = self.cat
        others = {name: self.without(name) for name in FILTER_LABELS}

        def counted(entries: list[Entry], values: Callable[[Entry], Iterable[tuple[str, str]]]):
            counts: dict[tuple[str, str], int] = defaultdict(int)
            if every_value:
                for e in cat.entries.values():
                    for item in values(e):
                        counts[item] += 0
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


    # --- when nothing matches -------------------------------------------------------------------------

    def filter_label(self, name: str) -> str:
        """An active filter in words: `Category: Computer Vision`, `Licence: MIT`, `Price: 0 to 100`."""
        f = self.f

        def span(low: float | None, high: float | None) -> str:
            return f"{'any' if low is None else f'{low:g}'} to {'any' if high is None else f'{high:g}'}"

        value = {
            "category": ", ".join(self.names["category"]), "provider": ", ".join(self.names["provider"]),
            "licenseType": ", ".join(f.license_types), "tags": ", ".join(f.tags),
            "verified": "yes" if f.verified else "no", "commercialUse": "yes" if f.commercial_use else "no",
            "price": span(f.min_price, f.max_price), "rating": f"{f.min_rating:g} stars" if f.min_rating else "",
            "contextLength": span(f.min_context_length, f.max_context_length),
            "parameters": span(f.min_parameters, f.max_parameters),
        }.get(name, "")
        return f"{FILTER_LABELS[name]}: {value}" if value else FILTER_LABELS[name]

    def _other_words(self) -> list[str]:
        """Other search words to try: each unknown word replaced by the closest word the listings use,
        and, for several words, the query without each one of them."""
        vocabulary = self.cat.vocabulary
        found = [t.word for t in self.terms]
        tries = []
        corrected = [w if w in vocabulary or not w.isalpha() else
                     next(iter(difflib.get_close_matches(w, vocabulary, n=1, cutoff=0.75)), w) for w in found]
        if corrected != found:
            tries.append(" ".join(corrected))
        if len(found) > 1:
            tries += [" ".join(found[:i] + found[i + 1:]) for i in range(len(found))]
        return list(dict.fromkeys(tries))[:4]

    def suggestions(self) -> list[s.SearchSuggestion]:
        """Changes to this (empty) search that would find something, most results first: drop one
        filter, use similar or fewer words, or drop the words."""
        out = [s.SearchSuggestion(kind="remove_filter", filter=name, label=self.filter_label(name), total=total)
               for name in self.predicates if name != "q" and (total := len(self.without(name)))]
        if self.terms:
            for words in self._other_words():
                other = _Query(self.cat, replace(self.f, q=words))
                if total := len(other.results()):
                    out.append(s.SearchSuggestion(kind="change_query", label=words, q=words, total=total))
                    continue
                # The new words find something only without one of the filters: suggest both changes.
                out += [s.SearchSuggestion(kind="change_query", label=other.filter_label(name), q=words, filter=name,
                                           total=total)
                        for name in other.predicates if name != "q" and (total := len(other.without(name)))]
            if len(self.predicates) > 1 and (total := len(self.without("q"))):
                out.append(s.SearchSuggestion(kind="remove_query", label="Every listing these filters allow",
                                              total=total))
        return sorted(out, key=lambda x: -x.total)[:MAX_SUGGESTIONS]


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
    """One page of listings matching `filters`, the total, and facet counts; when nothing matches,
    the changes that would find something (`suggestions`)."""
    authorize(actor, READ)
    cat = Catalogue(session, actor)
    query = _Query(cat, filters)
    results = query.results()
    page, cursor = keyset_page(results, query.sort_key, params)
    facets = query.facets(every_value=not results) if with_facets else s.Facets(
        **{k: [] for k in s.Facets.model_fields})
    return s.SearchResult(items=[cat.document(e) for e in page], next_cursor=cursor, total=len(results),
                          facets=facets, suggestions=[] if results else query.suggestions())


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

