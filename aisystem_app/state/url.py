"""A page's view in its URL: a control changes the query string, and loading the URL sets the controls.

A handler never changes the view directly: it navigates to the page's own path with the new query,
as a new history entry (so the back button steps back through searches, filters, tabs and pages)
unless it says `push=False`. The navigation runs the page's `on_load` again, which reads the query
and shows it; so a reload, back/forward and a link someone shared all restore the same view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

import reflex as rx

MAX_PARAM = 200


def clean_query(query: Mapping[str, str], known: Iterable[str]) -> dict[str, str]:
    """The known, non-empty parameters of a URL query, each cut to a sane length."""
    known = set(known)
    return {k: str(v)[:MAX_PARAM].strip() for k, v in query.items() if k in known and str(v).strip()}


def url_with(path: str, params: Mapping[str, str], order: Iterable[str]) -> str:
    """`path` with the non-empty `params` as its query string, in `order` (so one view has one URL)."""
    query = urlencode({k: params[k] for k in order if params.get(k)})
    return f"{path}?{query}" if query else path


class UrlStateMixin(rx.State, mixin=True):
    """The query parameters a page keeps its view in (each page names them in `_read_url`)."""

    _url_params: dict[str, str] = {}
    _url_keys: tuple[str, ...] = ()

    def _read_url(self, keys: tuple[str, ...]) -> dict[str, str]:
        """The page's parameters in the URL being loaded (call in `on_load` with the lock held)."""
        self._url_keys = keys
        self._url_params = clean_query(self.router.url.query_parameters, keys)
        return dict(self._url_params)

    def _go(self, changes: Mapping[str, str], *, push: bool = True) -> rx.event.EventSpec:
        """Navigate to this page with `changes` made to its query (an empty value drops a parameter)."""
        params = {**self._url_params, **{k: str(v)[:MAX_PARAM].strip() for k, v in changes.items()}}
        return rx.redirect(url_with(self.router.url.path, params, self._url_keys), replace=not push)


class TabsMixin(UrlStateMixin, mixin=True):
    """A page with tabs whose open tab is `?tab=` (the first tab is the default and stays out of the URL)."""

    tab: str = "overview"
    _tabs: tuple[str, ...] = ()
    _view_only: bool = False  # the load that follows a tab click (or `_go_view`) only changes the view

    def _read_tab(self, tabs: tuple[str, ...], keys: tuple[str, ...] = ()) -> bool:
        """Open the tab the URL names (reading `keys` too); True when a control of this page brought this
        load, so the page's data is on screen already (call in `on_load` with the lock held)."""
        chosen = self._read_url(("tab", *keys)).get("tab")
        self._tabs = tabs
        self.tab = chosen if chosen in tabs else tabs[0]
        only, self._view_only = self._view_only, False
        return only

    def _go_view(self, changes: dict[str, str], *, push: bool = True) -> rx.event.EventSpec:
        """Navigate for a change that needs no new data (the next load only shows it)."""
        self._view_only = True
        return self._go(changes, push=push)

    @rx.event
    def choose_tab(self, tab: str):
        """Open a tab (a new history entry, so back returns to the previous tab)."""
        if tab not in self._tabs or tab == self.tab:
            return None
        # Shown at once: Radix calls on_change on both mouse-down and focus of a trigger, and the second
        # call must find the tab open, or it pushes the same URL again (back would then seem stuck).
        return self._open_tab(tab)

    def _open_tab(self, tab: str) -> rx.event.EventSpec:
        """Show `tab` now and put it in the URL. Until the load that the navigation brings has run, the
        tabs would otherwise still show the previous one, and a click on that one would be lost."""
        self.tab = tab
        return self._go_view({"tab": "" if tab == self._tabs[0] else tab})
