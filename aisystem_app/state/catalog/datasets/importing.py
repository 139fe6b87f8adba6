"""The upload dialog's import options and preview (mixed into the dataset page's state).

The user chooses a file and asks for a preview: the file is received once into a pending folder of
its own (`storage.pending_folder`, swept when abandoned), the service reads its beginning with the
options chosen and the dialog shows what was detected (format, compression, encoding, separator,
header — each marked when guessed), the columns with their inferred types and missing values, the
first rows and the warnings. Changing an option previews the same file again, nothing is sent twice;
Import makes the version from it with those options. A file imported without a preview is read
with the options as they stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app.components.facts import Fact
from aisystem_app.state import upload
from aisystem_app.state.catalog.datasets import calls
from aisystem_app.state.catalog.datasets.calls import Refusal
from aisystem_app.state.catalog.datasets.forms import (
    COMMENT_CHOICES,
    ENCODING_CHOICES,
    IMPORT_DEFAULTS,
    IMPORT_KEYS,
    NA_LABELS,
    SEPARATOR_CHOICES,
    parse_import_options,
)
from aisystem_app.state.session import invoke
from backend.catalog.datasets import sniffing, storage
from backend.catalog.datasets.schemas import DEFAULT_NA_VALUES, OFFERED_NA_VALUES, ImportOptions
from backend.core.config import get_settings
from backend.core.errors import PayloadTooLarge

PREVIEW_CELL_CHARS = 80
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "json": "JSON", "jsonl": "JSON Lines"}
COMPRESSION_NAMES = {"gzip": "gzip", "bzip2": "bzip2", "zstd": "Zstandard", "zip": "ZIP"}


@dataclass
class PreviewColumn:
    """A column as the preview read it: its name, inferred type and missing values among the sampled rows."""

    name: str = ""
    type: str = ""
    missing: str = ""


@dataclass
class TokenChoice:
    """A missing-value token the dialog offers, worded, and whether it is ticked."""

    value: str = ""
    label: str = ""
    chosen: bool = False


def _guessed(text: str, guessed: bool) -> str:
    return f"{text} (detected)" if guessed else text


def _separator_words(separator: str | None) -> str:
    if separator == sniffing.WHITESPACE:
        return "Spaces or tabs"
    return {",": "Comma", ";": "Semicolon", "\t": "Tab", "|": "Pipe"}.get(separator or "", f"'{separator}'")


def preview_facts(result: dict[str, Any]) -> list[Fact]:
    """What the import found, in words, each marked when it was detected rather than chosen."""
    kind = FORMAT_NAMES.get(result["format"], result["format"])
    if result.get("compression"):
        kind += f", {COMPRESSION_NAMES.get(result['compression'], result['compression'])}-compressed"
    facts = [Fact("Format", kind)]
    if result.get("encoding"):
        facts.append(Fact("Encoding", _guessed(sniffing.label(result["encoding"]), result.get("encodingGuessed"))))
    dialect = result.get("dialect")
    if dialect:
        facts.append(Fact("Separator", _guessed(_separator_words(dialect.get("separator")),
                                                dialect.get("separatorGuessed"))))
        rows = result.get("options", {}).get("headerRows", 1)
        header = (f"Rows {result['options'].get('headerRow', 1)}–{result['options'].get('headerRow', 1) + rows - 1}"
                  if rows > 1 else "First row") if dialect.get("header") else "None: columns are numbered"
        facts.append(Fact("Header", _guessed(header, dialect.get("headerGuessed"))))
        if dialect.get("commentChar"):
            facts.append(Fact("Comment lines", _guessed(f"starting with {dialect['commentChar']}",
                                                        dialect.get("commentGuessed"))))
    found = result.get("missingValues") or {}
    if dialect is not None:
        facts.append(Fact("Missing values found", ", ".join(
            f"{NA_LABELS.get(token, token)} × {fmt.count(n)}" for token, n in found.items()) or "none"))
    return facts


def _cell(value: Any) -> str:
    if value is None:
        return fmt.NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[:PREVIEW_CELL_CHARS - 1] + "…"


class DatasetImportMixin(rx.State, mixin=True):
    """Import options and the preview of the upload dialog (the state using it has `dataset_id`,
    `uploading` and `upload_open`, and implements `_imported(message, warnings)`)."""

    import_form: dict[str, str] = dict(IMPORT_DEFAULTS)
    import_errors: dict[str, str] = dict.fromkeys(IMPORT_KEYS, "")
    na_tokens: list[str] = list(DEFAULT_NA_VALUES)
    previewing: bool = False
    importing: bool = False
    has_pending: bool = False  # a previewed file waits to be imported
    preview_name: str = ""
    preview_facts: list[Fact] = []
    preview_columns: list[PreviewColumn] = []
    preview_rows: list[list[str]] = []
    preview_warnings: list[str] = []
    preview_problem: str = ""
    preview_note: str = ""
    _pending: str = ""  # the pending folder (server-chosen; never from the client)

    # --- options ---------------------------------------------------------------------------------

    def _reset_import(self, *, options: bool = True) -> None:
        """Forget the previewed file (its folder is removed) and, with `options`, the choices made."""
        storage.discard_pending(self._pending)
        self._pending, self.has_pending, self.preview_name = "", False, ""
        self.preview_facts, self.preview_columns, self.preview_rows = [], [], []
        self.preview_warnings, self.preview_problem, self.preview_note = [], "", ""
        if options:
            self.import_form, self.na_tokens = dict(IMPORT_DEFAULTS), list(DEFAULT_NA_VALUES)
            self.import_errors = dict.fromkeys(IMPORT_KEYS, "")

    def _options(self) -> ImportOptions | None:
        """The options chosen, or None after putting a message under each input that is wrong."""
        problems, options = parse_import_options(self.import_form, self.na_tokens)
        self.import_errors = dict.fromkeys(IMPORT_KEYS, "") | problems
        return options

    @rx.event
    def choose_import_option(self, name: str, value: str):
        """Change one import option; a previewed file is read again with it."""
        if name not in IMPORT_DEFAULTS or name == "na_extra" and len(str(value)) > 500:
            return None
        allowed = {"separator": SEPARATOR_CHOICES, "encoding": ENCODING_CHOICES, "comment": COMMENT_CHOICES}
        if name in allowed and value not in allowed[name]:
            return None
        self.import_form = {**self.import_form, name: str(value)[:500]}
        return type(self).refresh_preview if self.has_pending else None

    @rx.event
    def toggle_na_token(self, token: str, chosen: bool):
        """Tick or untick one of the offered missing-value tokens."""
        if token not in OFFERED_NA_VALUES:
            return None
        tokens = [t for t in self.na_tokens if t != token]
        self.na_tokens = [t for t in OFFERED_NA_VALUES if t in tokens or (t == token and chosen)]
        return type(self).refresh_preview if self.has_pending else None

    # --- preview ---------------------------------------------------------------------------------

    @rx.event(background=True)
    async def preview_upload(self, chunks: rx.UploadChunkIterator):
        """Receive the chosen file once (into a pending folder) and preview it with the options chosen."""
        async with self:
            if self.previewing or self.importing or self.uploading:
                return None
            self.previewing, self.preview_problem, dataset_id = True, "", self.dataset_id
        check = await invoke(self, calls.check_write(dataset_id))
        if not check.ok:
            async with self:
                self.previewing = False
            return check.events
        folder = storage.pending_folder()
        sink = storage.UploadSink(folder / "upload", limit=get_settings().max_upload_bytes)
        try:
            received = await upload.receive(chunks, sink.write, limit=get_settings().max_upload_bytes)
        except (PayloadTooLarge, upload.UploadRefused) as error:
            sink.abort()
            storage.discard_pending(folder)
            async with self:
                self.previewing, self.preview_problem = False, error.message
            return None
        staged = sink.close()
        if received.filename is None:
            storage.discard_pending(folder)
            async with self:
                self.previewing, self.preview_problem = False, "Choose a file first"
            return None
        storage.keep_pending(folder, staged, received.filename)
        async with self:
            self._reset_import(options=False)
            self._pending, self.has_pending, self.preview_name = str(folder), True, received.filename
        events = await self._run_preview()
        return [rx.clear_selected_files("dataset-upload"), *(events or [])]

    @rx.event(background=True)
    async def refresh_preview(self):
        """Preview the pending file again with the options as they are now."""
        async with self:
            if self.previewing or not self.has_pending:
                return None
            self.previewing = True
        return await self._run_preview()

    async def _run_preview(self):
        async with self:
            options = self._options()
            folder, dataset_id = self._pending, self.dataset_id
            if options is None:
                self.previewing = False
                return None
        outcome = await invoke(self, calls.preview(dataset_id, folder, options))
        async with self:
            self.previewing = False
            if not outcome.ok:
                return outcome.events
            if isinstance(outcome.value, Refusal):
                self._show_refusal(outcome.value)
                return None
            self._show_preview(outcome.value)
        return None

    def _show_refusal(self, refusal: Refusal) -> None:
        fields = {k.removeprefix("options."): v for k, v in refusal.fields.items()}
        inputs = {"separator": "separator", "encoding": "encoding", "commentChar": "comment",
                  "skipRows": "skip_rows", "headerRow": "header_row", "headerRows": "header_rows"}
        self.import_errors = dict.fromkeys(IMPORT_KEYS, "") | {inputs[k]: v for k, v in fields.items() if k in inputs}
        self.preview_problem = refusal.message
        self.preview_facts, self.preview_columns, self.preview_rows, self.preview_warnings = [], [], [], []
        self.preview_note = ""  # the file stays pending: another option (an encoding, a separator) may read it

    def _show_preview(self, result: dict[str, Any]) -> None:
        self.preview_facts = preview_facts(result)
        self.preview_columns = [PreviewColumn(c["name"], fmt.label(c["type"]),
                                              "none missing" if not c["nullCount"] else
                                              f"{fmt.count(c['nullCount'])} missing") for c in result["columns"]]
        self.preview_rows = [[_cell(v) for v in row] for row in result["rows"]]
        self.preview_warnings = list(result.get("warnings") or [])
        self.preview_problem = result.get("problem") or ""
        shown, sampled = len(result["rows"]), result.get("sampleRows", 0)
        self.preview_note = (f"The first {fmt.count(shown)} rows; types and missing values from "
                             f"{'all ' if result.get('complete') and sampled < 10_000 else 'the first '}"
                             f"{fmt.plural(sampled, 'row')}." if shown else "")

    # --- import ----------------------------------------------------------------------------------

    @rx.event(background=True)
    async def import_previewed(self):
        """Make the new version from the previewed file with the options chosen."""
        async with self:
            if self.importing or self.previewing or not self.has_pending:
                return None
            options = self._options()
            if options is None:
                return None
            self.importing, self.preview_problem = True, ""
            folder, dataset_id = self._pending, self.dataset_id
        outcome = await invoke(self, calls.import_pending(dataset_id, folder, options), write=True)
        async with self:
            self.importing = False
            if outcome.ok and isinstance(outcome.value, Refusal):
                self._show_refusal(outcome.value)
                return None
        if not outcome.ok:
            return outcome.events
        async with self:
            self._reset_import()
        return await self._imported(outcome.value.message, outcome.value.warnings)

    async def _imported(self, message: str, warnings: list[str]):  # pragma: no cover - the state using it decides
        raise NotImplementedError

    # --- computed --------------------------------------------------------------------------------

    @rx.var
    def na_choices(self) -> list[TokenChoice]:
        """The missing-value tokens offered, ticked as chosen (the usual ones by default, `?` and others offered)."""
        return [TokenChoice(t, NA_LABELS.get(t, t), t in self.na_tokens) for t in OFFERED_NA_VALUES]

    @rx.var
    def preview_header(self) -> list[str]:
        return [c.name for c in self.preview_columns]
