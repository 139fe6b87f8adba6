"""The dataset page's download and delete actions.

A download is checked and made ready by the datasets service as the signed-in user (a CSV or JSON
Lines export is written the first time), then the browser fetches the file from the UI's own download
path (`aisystem_app/downloads.py`), which checks the browser's session cookie and the dataset's access
again and streams it from the artifact store. Delete asks first, naming the dataset, then soft-deletes
it and returns to the list; the purge task removes its files after the soft-delete period.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.downloads import dataset_file_url
from aisystem_app.state.catalog.datasets import calls
from aisystem_app.state.catalog.datasets.view import DOWNLOAD_LABELS
from aisystem_app.state.session import invoke
from backend.catalog.datasets.service import EXPORT_FORMATS
from backend.core.config import get_settings

# (format, label) of the download menu, in the service's order.
DOWNLOAD_FORMATS = tuple((f, DOWNLOAD_LABELS.get(f, fmt.label(f))) for f in EXPORT_FORMATS)


class DatasetActionsMixin(rx.State, mixin=True):
    """Download a version and delete the dataset (the state using it has `dataset_id` and `name`)."""

    downloading: bool = False
    delete_open: bool = False
    deleting: bool = False
    delete_note: str = ""

    @rx.event(background=True)
    async def download(self, fmt_key: str, version: str):
        """Download version `version` ("2" or "v2"; the newest when empty) as `fmt_key` (parquet, csv, jsonl)."""
        number = str(version).removeprefix("v")
        async with self:
            if self.downloading:
                return None
            self.downloading, dataset_id = True, self.dataset_id
        chosen = int(number) if number.isdigit() and 0 < int(number) < 2**31 else None
        outcome = await invoke(self, calls.prepare_download(dataset_id, chosen, str(fmt_key)[:16]))
        async with self:
            self.downloading = False
        if not outcome.ok:
            return outcome.events
        item = outcome.value
        return rx.download(url=dataset_file_url(dataset_id, item.version, item.fmt), filename=item.filename)

    @rx.event
    def open_delete(self, value: bool):
        """Open (or close) the dialog that asks before deleting."""
        if self.deleting:
            return
        self.delete_open = bool(value)
        days = get_settings().dataset_purge_days
        self.delete_note = (f"It leaves the catalog at once; its versions and files are removed for good "
                            f"after {fmt.plural(days, 'day')}.")

    @rx.event(background=True)
    async def delete_dataset(self):
        """Delete the page's dataset (owners and administrators), then go back to the list."""
        async with self:
            if self.deleting:
                return None
            self.deleting, dataset_id = True, self.dataset_id
        outcome = await invoke(self, calls.delete(dataset_id), write=True)
        async with self:
            self.deleting = False
            self.delete_open = self.delete_open and not outcome.ok
        if not outcome.ok:
            return outcome.events
        return [rx.toast.success(f"Deleted “{outcome.value}”"), rx.redirect(routes.DATASETS)]
