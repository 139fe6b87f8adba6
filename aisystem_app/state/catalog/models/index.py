"""The models list: search (keyword or semantic), filter chips, sort, keyset pages, and the register form.

The view lives in the URL (`?q=churn&mode=semantic&type=Vision&sort=name&page=2&after=...`): the
controls navigate, and `load` shows what the URL names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import reflex as rx
from sqlmodel import Session

from aisystem_app.state.catalog.models import view
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, TableMixin
from backend.auth.principal import Principal
from backend.catalog.model_registry import schemas as s
from backend.catalog.model_registry import search as registry_search
from backend.catalog.model_registry import service as registry
from backend.core.pagination import PageParams

# Only to show or hide the register button: the registry service decides.
CREATE = "model:create"
PAGE_SIZE = 20
FILTER_KEYS = ("type", "status", "framework", "tag")
MODES = ("keyword", "semantic")
DUPLICATE_NAME = "A model with this name exists already"
DEFAULT_SORT = "-createdAt"
RELEVANCE = "relevance"  # what the sort box shows while searching (not a sort the URL can name)
URL_KEYS = ("q", "mode", *FILTER_KEYS, "sort", *PAGE_KEYS)
FIRST_PAGE = {"page": "", "after": ""}


@dataclass(frozen=True)
class Query:
    """What the list shows: a search (when `q`), the filters and the sort, at one cursor."""

    q: str = ""
    mode: str = "keyword"
    filters: tuple[tuple[str, str], ...] = ()
    sort: str = "-createdAt"
    cursor: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of the list as text, with the chip counts (first page only) and, for a search, what it
    returned and why (`summary`) and whether rows carry a similarity score."""

    rows: list[dict[str, str]]
    cursor: str | None
    can_create: bool
    counts: dict[str, int] | None
    summary: str = ""
    scored: bool = False


def read_models(query: Query):
    """A unit of work reading one page: browsing uses the service's filters and sort, a search ranks
    the models passing the filters by relevance; the first page also counts the filter chips, among
    the search's results when searching (a semantic search's results are the models above its
    relevance cut-off), so each chip's count is what it would show."""

    def work(session: Session, principal: Principal) -> Listing:
        filters = registry.ModelFilters(**dict(query.filters))
        q = query.q or None
        counts = chip_counts(session, principal, filters, q, query.mode) if query.cursor is None else None
        if q:
            page = registry_search.search_models(session=session, actor=principal, q=q, mode=query.mode,
                                                 limit=PAGE_SIZE, cursor=query.cursor, filters=filters)
            scored = page.mode != "keyword"
            rows = [view.model_row(hit.model, view.plain_snippet(hit.highlights), hit.score if scored else None)
                    for hit in page.items]
            return Listing(rows, page.next_cursor, principal.can(CREATE), counts, view.search_summary(page), scored)
        models, cursor = registry.list_models(session=session, actor=principal, filters=filters, sort=query.sort,
                                              params=PageParams(limit=PAGE_SIZE, cursor=query.cursor))
        return Listing([view.model_row(registry.model_read(m)) for m in models], cursor, principal.can(CREATE), counts)

    return work


def chip_counts(session: Session, principal: Principal, filters: registry.ModelFilters,
                q: str | None = None, mode: str = "keyword") -> dict[str, int]:
    """How many models each chip would show (under the other filters, among the results of a search for
    `q` in `mode` when given), keyed "facet:value"."""
    facets = registry.model_facets(session=session, actor=principal, filters=filters, q=q, mode=mode)
    counts = {f"{key}:{value}": 0 for key, values in view.CHIPS.items() for value in values}
    for key in view.CHIPS:
        counts |= {f"{key}:{fc.value}": fc.count for fc in getattr(facets, key)}
    return counts


def register_model(data: s.ModelCreate, session: Session, principal: Principal) -> str:
    return registry.create_model(session=session, actor=principal, data=data).id


class ModelsState(TableMixin, rx.State):
    """The models list page. Every handler checks `model:read` (and `model:create` to register)."""

    allowed: bool = True
    can_create: bool = False
    query: str = ""
    mode: str = "keyword"
    filters: dict[str, str] = {}
    counts: dict[str, int] = {}
    sort: str = "-createdAt"
    # what the last search returned and why (its count, the relevance cut-off, what was left out)
    summary: str = ""
    scored: bool = False
    register_open: bool = False
    register_errors: dict[str, str] = {}
    registering: bool = False

    @rx.var
    def searching(self) -> bool:
        return self.query != ""

    @rx.var
    def active_tag(self) -> str:
        return self.filters.get("tag", "")

    @rx.var
    def sort_shown(self) -> str:
        """The order the list is in: a search is ranked by relevance, whatever sort the URL keeps."""
        return RELEVANCE if self.query else self.sort

    @rx.event(background=True)
    async def load(self):
        """Show the view the URL names: search text and mode, filter chips, sort and page."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.query = params.get("q", "")[:500]
            self.mode = params["mode"] if params.get("mode") in MODES else "keyword"
            self.filters = {k: params[k][:64] for k in FILTER_KEYS if params.get(k)}
            self.sort = params["sort"] if params.get("sort") in view.SORTS else DEFAULT_SORT
            self._open_url_page(params)
        return await self._fetch()

    @rx.event
    def search(self, form: dict):
        """Search for the words (or the description, in semantic mode) typed in the box."""
        return self._go({"q": str(form.get("q") or "")[:500], **FIRST_PAGE})

    @rx.event
    def choose_mode(self, mode: str | list[str]):
        """Keyword or semantic search."""
        mode = mode[0] if isinstance(mode, list) and mode else mode
        return self._go({"mode": mode if mode in MODES and mode != "keyword" else "", **FIRST_PAGE})

    @rx.event
    def toggle_filter(self, key: str, value: str):
        """Turn a filter chip on (replacing the key's other value) or off."""
        return self._filter(str(key), str(value))

    @rx.event
    def add_tag(self, form: dict):
        """Filter by the tag typed in the tag box."""
        return self._filter("tag", str(form.get("tag") or ""))

    def _filter(self, key: str, value: str):
        if key not in FILTER_KEYS:
            return None
        value = value.strip()[:64]
        if key == "tag":
            value = value.lower()
        chosen = "" if not value or self.filters.get(key) == value else value
        return self._go({key: chosen, **FIRST_PAGE})

    @rx.event
    def clear(self):
        """Drop the search and every filter."""
        return self._go({"q": "", **dict.fromkeys(FILTER_KEYS, ""), **FIRST_PAGE})

    @rx.event
    def choose_sort(self, sort: str):
        """Order the list (browsing; a search is ordered by relevance)."""
        return self._go({"sort": sort if sort in view.SORTS and sort != DEFAULT_SORT else "", **FIRST_PAGE})

    async def _fetch(self):
        async with self:
            self.loading = True
            query = Query(self.query, self.mode, tuple(sorted(self.filters.items())), self.sort, self._cursor)
        outcome = await invoke(self, read_models(query))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            listing: Listing = outcome.value if outcome.ok else Listing([], None, False, None)
            self.can_create = listing.can_create
            if listing.counts is not None:
                self.counts = listing.counts
            self.summary, self.scored = listing.summary, listing.scored
            self._show_page(listing.rows, listing.cursor)
        return outcome.events if allowed else None

    # --- registering ------------------------------------------------------------------------------------

    @rx.event
    def open_register(self, is_open: bool = True):
        """Show or hide the register dialog (a fresh form each time)."""
        self.register_open = bool(is_open)
        self.register_errors = {}

    @rx.event(background=True)
    async def register(self, form: dict):
        """Check the form against the service's rules, register the model and open its page."""
        async with self:
            if self.registering:
                return None
            errors, data = view.model_form(form)
            self.register_errors = errors
            if data is None:
                return None
            self.registering = True
        outcome = await invoke(self, partial(register_model, data), write=True)
        async with self:
            self.registering = False
            if outcome.code == "MODEL_002":
                self.register_errors = {"name": DUPLICATE_NAME}
                return None
            if outcome.ok:
                self.register_open = False
        if not outcome.ok:
            return outcome.events
        return [rx.toast.success(f"Registered {data.name}"), rx.redirect(view.model_href(outcome.value))]
