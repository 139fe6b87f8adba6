"""Sorting and cursor pagination shared by every table page (a state mixin)."""

from __future__ import annotations

import reflex as rx

from aisystem_app.state.url import UrlStateMixin

PAGE_SIZE = 25
# The page in the URL: `after` is the keyset cursor the page starts after, `page` its number.
PAGE_KEYS = ("page", "after")


class TableMixin(UrlStateMixin, mixin=True):
    """Rows of the current page as text, client-chosen sort, and the keyset cursors around it.

    The page lives in the URL (`?page=3&after=<cursor>`), so a reload or a shared link opens the same
    page; the cursors of the pages before it stay on the server, for the previous-page button.
    """

    rows: list[dict[str, str]] = []
    sort_key: str = ""
    sort_desc: bool = False
    loading: bool = False
    has_next: bool = False
    page_number: int = 1
    _cursor: str | None = None
    _next_cursor: str | None = None
    _previous: list[str | None] = []

    @rx.var
    def sorted_rows(self) -> list[dict[str, str]]:
        """The page's rows in the chosen order (server order when none is chosen)."""
        if not self.sort_key:
            return self.rows
        return sorted(self.rows, key=lambda row: row.get(self.sort_key, ""), reverse=self.sort_desc)

    @rx.event
    def sort_by(self, key: str):
        """Sort by a column; the same column again flips the direction."""
        if key == self.sort_key:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_key, self.sort_desc = key[:64], False

    @rx.event
    def next_page(self):
        """Go to the next page (a new history entry, so the back button returns)."""
        if self._next_cursor is None:
            return None
        return self._go({"page": str(self.page_number + 1), "after": self._next_cursor})

    @rx.event
    def previous_page(self):
        """Go to the previous page (the first one when this tab does not know the way back)."""
        if not self._previous:
            return None
        cursor = self._previous[-1]
        number = str(len(self._previous)) if cursor else ""
        return self._go({"page": number, "after": cursor or ""})

    async def _fetch(self):
        """Load the page at `_cursor` (each table page defines it)."""
        raise NotImplementedError

    def _show_page(self, rows: list[dict[str, str]], next_cursor: str | None) -> None:
        self.rows = rows
        self._next_cursor = next_cursor
        self.has_next = next_cursor is not None
        self.loading = False

    def _restart(self) -> None:
        self._cursor, self._next_cursor, self._previous = None, None, []
        self.page_number = 1

    def _open_url_page(self, params: dict[str, str]) -> None:
        """Point the cursor at the page the URL names, keeping the cursors before it when this tab has
        seen them (next, previous, back and forward); an unknown cursor (a shared link) leads back to page 1."""
        cursor = params.get("after") or None
        trail = [*self._previous, self._cursor]
        if cursor is None:
            self._restart()
            return
        if cursor == self._next_cursor:
            self._previous, self._cursor = trail, cursor
        elif cursor in trail:
            at = trail.index(cursor)
            self._previous, self._cursor = trail[:at], cursor
        else:  # a shared link: keep the number it was shared with
            self._previous, self._cursor = [None], cursor
            shown = params.get("page", "")
            self.page_number = int(shown) if shown.isdigit() and 1 < int(shown) < 10_000 else 2
            return
        self.page_number = len(self._previous) + 1
