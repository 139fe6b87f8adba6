"""Sorting and cursor pagination shared by every table page (a state mixin)."""

from __future__ import annotations

import reflex as rx

PAGE_SIZE = 25


class TableMixin(rx.State, mixin=True):
    """Rows of the current page as text, client-chosen sort, and the keyset cursors around it.

    The cursors stay on the server: the browser can only ask for the next or previous page.
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

    @rx.event(background=True)
    async def next_page(self):
        """Show the next page."""
        async with self:
            moved = self._step(forward=True)
        return await self._fetch() if moved else None

    @rx.event(background=True)
    async def previous_page(self):
        """Show the previous page."""
        async with self:
            moved = self._step(forward=False)
        return await self._fetch() if moved else None

    async def _fetch(self):
        """Load the page at `_cursor` (each table page defines it)."""
        raise NotImplementedError

    def _show_page(self, rows: list[dict[str, str]], next_cursor: str | None) -> None:
        self.rows = rows
        self._next_cursor = next_cursor
        self.has_next = next_cursor is not None
        self.page_number = len(self._previous) + 1
        self.loading = False

    def _restart(self) -> None:
        self._cursor, self._next_cursor, self._previous = None, None, []
        self.page_number = 1

    def _step(self, forward: bool) -> bool:
        """Move the cursor one page; False when there is no such page."""
        if forward:
            if self._next_cursor is None:
                return False
            self._previous.append(self._cursor)
            self._cursor = self._next_cursor
        else:
            if not self._previous:
                return False
            self._cursor = self._previous.pop()
        return True
