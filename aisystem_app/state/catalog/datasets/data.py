"""The dataset page's Data tab: a version's rows, a page at a time, sorted and filtered by the server.

The view lives in the URL beside the tab (`?tab=data&version=2&sort=rating&order=desc&filter=…&page=3`):
every control navigates (`_go_view`: the dataset itself is not read again) and the page's load
shows what the URL names, so reload, back/forward and a shared link give the same rows. The rows
come from the datasets service (`read_rows`), which reads only the page from the version's Parquet
file; values from the file reach the browser as text, never markup.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from aisystem_app.state.catalog.datasets import calls
from aisystem_app.state.catalog.datasets import view as views
from aisystem_app.state.catalog.datasets.calls import Refusal
from aisystem_app.state.catalog.datasets.view import DataColumnView, DataRowView
from aisystem_app.state.session import invoke
from aisystem_app.state.url import MAX_PARAM

DATA_TAB = "data"
PAGE_ROWS = 50
MAX_PAGE = 1_000_000
# The Data tab's URL parameters (read by the page's load beside `tab`).
DATA_KEYS = ("version", "sort", "order", "filter", "page")
FILTER_HINT = ('A condition such as  rating >= 4 and sentiment == "positive",  contains(text, "refund")  or  '
               'email is null.  Put a column name with spaces in `backticks`.')


def _number(text: str, upper: int) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= upper else None


class DatasetDataMixin(rx.State, mixin=True):
    """The rows of one version of the page's dataset (the state using it has `dataset_id`, `has_data`,
    `version`, `versions` and the `TabsMixin` URL helpers)."""

    data_columns: list[DataColumnView] = []
    data_rows: list[DataRowView] = []
    data_loading: bool = False
    data_summary: str = ""
    data_error: str = ""
    data_filter: str = ""
    data_page: int = 1
    data_has_next: bool = False
    data_version: str = ""  # the version shown, as "v2"
    data_versions: list[str] = []
    _data_key: tuple = ()

    async def _read_data(self):  # noqa: ANN202
        """Show the rows the URL names when the Data tab is open (the page's load and refresh call it)."""
        async with self:
            if self.tab != DATA_TAB or not self.has_data:
                return None
            params = self._url_params
            number = _number(params.get("version", ""), 2**31 - 1)
            page = _number(params.get("page", ""), MAX_PAGE) or 1
            sort, text = params.get("sort") or None, params.get("filter") or None
            descending = params.get("order") == "desc"
            key = (self.dataset_id, self.version, number, page, sort, descending, text)
            if key == self._data_key:
                return None
            self._data_key = key
            self.data_loading, self.data_filter, self.data_page = True, text or "", page
            self.data_versions = [v.label for v in self.versions]
            dataset_id = self.dataset_id
        outcome = await invoke(self, calls.read_rows(dataset_id, number, offset=(page - 1) * PAGE_ROWS,
                                                     limit=PAGE_ROWS, sort=sort, descending=descending, filter=text))
        async with self:
            self.data_loading = False
            if not outcome.ok or isinstance(outcome.value, Refusal):
                self.data_columns, self.data_rows, self.data_summary, self.data_has_next = [], [], "", False
                self.data_error = outcome.value.message if outcome.ok else ""
                self._data_key = key if outcome.ok else ()  # a refused view is not asked again; a failure is
                return outcome.events or None
            rows = outcome.value
            self.data_error = ""
            self.data_version = f"v{rows.version}"
            self.data_columns = views.data_columns(rows.page)
            self.data_rows = views.data_rows(rows.page)
            self.data_summary = views.data_summary(rows.page, rows.version, rows.records)
            self.data_has_next = rows.page.next_offset is not None
        return None

    def _go_data(self, changes: dict[str, str]):  # noqa: ANN202
        """Show another view of the rows (a new history entry; the dataset is not read again)."""
        return self._go_view({"tab": DATA_TAB, **changes})

    @rx.event
    def sort_rows(self, column: str):
        """Sort by a column: low to high, then high to low, then the file's order again (from page 1)."""
        column = str(column)[:MAX_PARAM]
        params = self._url_params
        if params.get("sort") != column:
            changes = {"sort": column, "order": ""}
        elif params.get("order") != "desc":
            changes = {"sort": column, "order": "desc"}
        else:
            changes = {"sort": "", "order": ""}
        return self._go_data({**changes, "page": ""})

    @rx.event
    def filter_rows(self, form: dict[str, Any]):
        """Keep the rows that pass the condition typed in (from page 1); the service checks it."""
        text = " ".join(str(form.get("filter", "") or "").split())
        if len(text) > MAX_PARAM:
            self.data_error = f"A filter is limited to {MAX_PARAM} characters here"
            return None
        return self._go_data({"filter": text, "page": ""})

    @rx.event
    def clear_filter(self):
        return self._go_data({"filter": "", "page": ""})

    @rx.event
    def reset_rows(self):
        """Back to the newest version's rows in the file's order, unfiltered."""
        return self._go_data({"version": "", "sort": "", "order": "", "filter": "", "page": ""})

    @rx.event
    def next_rows(self):
        if not self.data_has_next:
            return None
        return self._go_data({"page": str(self.data_page + 1)})

    @rx.event
    def previous_rows(self):
        if self.data_page <= 1:
            return None
        return self._go_data({"page": str(self.data_page - 1) if self.data_page > 2 else ""})

    @rx.event
    def show_version(self, label: str):
        """Show another version's rows (`v2`); the newest version stays out of the URL."""
        number = _number(str(label).removeprefix("v"), 2**31 - 1)
        if number is None:
            return None
        newest = f"v{number}" == self.version
        return self._go_data({"version": "" if newest else str(number), "page": ""})

