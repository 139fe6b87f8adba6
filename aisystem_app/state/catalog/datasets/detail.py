"""One dataset: overview, data (its rows: `DatasetDataMixin`), schema, profile, quality, versions with
lineage, access; and the upload, split, transform, check and share actions (download and delete:
`DatasetActionsMixin`).

Handlers act on the dataset of the page's URL, run the service as the signed-in user (`invoke`) and
then re-read the page, so every figure shown is the service's current one. Public vars hold small
text DTOs; the profile's per-column detail and the step/rule lists stay in backend-only vars.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.state import upload
from aisystem_app.state.catalog.datasets import calls
from aisystem_app.state.catalog.datasets.actions import DatasetActionsMixin
from aisystem_app.state.catalog.datasets.calls import Detail, Refusal
from aisystem_app.state.catalog.datasets.data import DATA_KEYS, DatasetDataMixin
from aisystem_app.state.catalog.datasets.forms import (
    RULE_TYPES,
    STEP_OPS,
    describe_step,
    parse_rule,
    parse_share,
    parse_split,
    parse_step,
)
from aisystem_app.state.catalog.datasets.importing import DatasetImportMixin
from aisystem_app.state.catalog.datasets.view import (
    TYPE_ICONS,
    AccessView,
    ColumnView,
    Fact,
    FieldView,
    RuleView,
    ScoreView,
    VersionView,
    column_figure,
    column_views,
    field_view,
    first_column_to_show,
    overview_facts,
    quality_facts,
    quality_figure,
    rule_views,
    score_views,
    split_label,
    type_text,
    version_view,
)
from aisystem_app.state.lineage import LineageMixin
from aisystem_app.state.session import invoke
from aisystem_app.state.url import TabsMixin
from backend.catalog.datasets import storage
from backend.core.config import get_settings
from backend.core.errors import PayloadTooLarge

UPLOAD_ID = "dataset-upload"
MAX_STEPS = 20
MAX_RULES = 20
# Every message key a form shows, so the page can read any of them (empty: no problem).
SPLIT_KEYS = ("train", "validation", "test", "seed", "stratify_by", "ratios", "form")
TABS = ("overview", "data", "schema", "profile", "quality", "versions", "lineage", "access")  # `?tab=`; the first is the default
STEP_KEYS = ("op", "columns", "argument", "form")
RULE_KEYS = ("kind", "column", "argument", "form")
SHARE_KEYS = ("subject_type", "subject", "permission", "form")


def messages(problems: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    """`problems` with an empty message for each of `keys` it lacks."""
    return dict.fromkeys(keys, "") | problems


class DatasetDetailState(TabsMixin, LineageMixin, DatasetDataMixin, DatasetActionsMixin, DatasetImportMixin,
                         rx.State):
    """/catalog/datasets/[dataset_id]. Reads need `dataset:read`, changes `dataset:write` (sharing
    `dataset:share`), and the dataset's ACL on top: a dataset the user may not see is not found."""

    loading: bool = True
    found: bool = False
    dataset_id: str = ""
    name: str = ""
    description: str = ""
    type: str = ""
    type_icon: str = "table"
    has_data: bool = False
    version: str = ""
    stats: dict[str, str] = {}
    facts: list[Fact] = []
    split_text: str = ""
    may_write: bool = False
    may_manage: bool = False
    may_delete: bool = False
    owner: str = ""
    # schema and profile
    fields: list[FieldView] = []
    column_names: list[str] = []
    profile_columns: list[ColumnView] = []
    selected_column: str = ""
    column_chart: go.Figure = go.Figure()
    column_facts: list[Fact] = []
    profile_note: str = ""
    # quality
    scores: list[ScoreView] = []
    gauges: list[go.Figure] = []
    quality_details: list[Fact] = []
    rules: list[str] = []
    rule_errors: dict[str, str] = dict.fromkeys(RULE_KEYS, "")
    rule_results: list[RuleView] = []
    rules_summary: str = ""
    checking: bool = False
    # versions and access
    versions: list[VersionView] = []
    access: list[AccessView] = []
    share_errors: dict[str, str] = dict.fromkeys(SHARE_KEYS, "")
    # dialogs
    upload_open: bool = False
    uploading: bool = False
    upload_percent: int = 0
    upload_phase: str = ""
    upload_error: str = ""
    split_open: bool = False
    split_errors: dict[str, str] = dict.fromkeys(SPLIT_KEYS, "")
    transform_open: bool = False
    steps: list[str] = []
    step_op: str = "select"
    step_errors: dict[str, str] = dict.fromkeys(STEP_KEYS, "")
    working: bool = False
    form_version: int = 0
    _columns: dict[str, dict] = {}
    _steps: list[dict] = []
    _rules: list[dict] = []

    # --- reading ---------------------------------------------------------------------------------

    @rx.event(background=True)
    async def load(self):
        """Read the dataset of the page's URL; open the tab and profile column it names."""
        async with self:
            dataset_id = routes.id_in_path(self.router.url.path, 64)
            view_only = self._read_tab(TABS, ("column", *DATA_KEYS))
            self.selected_column = self._url_params.get("column", "")
            shown = view_only and self.found and dataset_id == self.dataset_id
            if shown:
                self._select(self.selected_column or next(iter(self._columns), ""))
            else:
                self.dataset_id = dataset_id
                self.loading, self.found = True, False
                self.rule_results, self.rules_summary = [], ""
        # Only the view changed: the Data tab may need other rows; else read the dataset (and its rows).
        return await (self._read_data() if shown else self._refresh())

    async def _refresh(self):
        async with self:
            dataset_id = self.dataset_id
        outcome = await invoke(self, calls.read_detail(dataset_id))
        async with self:
            self.loading = False
            self.found = outcome.ok
            if outcome.ok:
                self._show(outcome.value)
        if not outcome.ok:
            return outcome.events
        return await self._read_data()

    def _show(self, detail: Detail) -> None:
        doc, names = detail.doc, detail.names
        self.name, self.description, self.type = doc["name"], doc.get("description") or "", doc["type"]
        self.type_icon = TYPE_ICONS.get(doc["type"], "database")
        self.has_data = doc.get("version") is not None
        self.version = f"v{doc['version']}" if self.has_data else "no data yet"
        self.owner = names.get(doc["createdBy"], "system")
        self.may_write, self.may_manage, self.may_delete = detail.may_write, detail.may_manage, detail.may_delete
        quality = doc.get("quality") or {}
        self.stats = {"records": fmt.count(doc.get("recordCount")) if self.has_data else fmt.NONE,
                      "columns": fmt.count(len(doc["schema"]["fields"])) if self.has_data else fmt.NONE,
                      "size": fmt.size(doc.get("size")) if self.has_data else fmt.NONE,
                      "versions": str(doc.get("version") or 0), "quality": fmt.percent(quality.get("overall"))}
        self.facts = overview_facts(doc, self.owner)
        self.split_text = split_label(doc.get("splits"))
        self.fields = [field_view(f) for f in doc["schema"]["fields"]]
        self.column_names = [f.name for f in self.fields]
        self._show_profile(detail.profile)
        self.versions = [version_view(v, doc.get("version")) for v in detail.versions]
        self._show_lineage(detail.lineage)
        self.access = [AccessView(a["subject_type"], a["subject"], names.get(a["subject"], a["subject"]),
                                  a["permission"], names.get(a["granted_by"], a["granted_by"]),
                                  fmt.moment(a["created_at"])) for a in detail.access]

    def _show_profile(self, profile: dict[str, Any] | None) -> None:
        profile = profile or {}
        self._columns = profile.get("columns") or {}
        self.profile_columns = column_views(profile)
        self.profile_note = (f"{fmt.count(profile['rows'])} rows, {profile['columnCount']} columns, computed in "
                             f"{profile.get('passes', 2)} passes ({fmt.duration(profile.get('computeSeconds', 0))})"
                             if profile else "")
        self.scores = score_views(profile.get("quality"), profile.get("formulas") or {})
        self.gauges = quality_figure(profile.get("quality"))
        self.quality_details = quality_facts(profile.get("qualityDetails") or {})
        keep = self.selected_column if self.selected_column in self._columns else None
        self._select(keep or first_column_to_show(profile))

    def _select(self, name: str) -> None:
        info = self._columns.get(name)
        self.selected_column = name if info else ""
        self.column_chart = column_figure(info, name) if info else go.Figure()
        view = next((c for c in self.profile_columns if c.name == name), None)
        self.column_facts = [Fact("Type", type_text(view.type, info.get("dtype"))), Fact("Missing", view.nulls),
                             Fact("Distinct", view.distinct), Fact("Summary", view.summary)] if view and info else []

    @rx.event
    def select_column(self, name: str):
        """Show one column's chart and figures (from the profile already read); the URL keeps the choice."""
        self._select(str(name)[:256])
        return self._go_view({"column": self.selected_column}, push=False)  # a detail, not a step back

    # --- upload ----------------------------------------------------------------------------------

    @rx.event
    def open_upload(self, value: bool):
        if not self.uploading and not self.importing:
            self.upload_open, self.upload_error, self.upload_percent, self.upload_phase = bool(value), "", 0, ""
            self._reset_import()  # a previewed file left behind is removed; the options start afresh

    @rx.event
    def upload_progress(self, progress: dict):
        """The browser's progress while it sends the file."""
        share = progress.get("progress") if isinstance(progress, dict) else None
        if isinstance(share, int | float) and (self.uploading or self.previewing):
            self.upload_percent = max(0, min(100, round(share * 100)))

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator):
        """Receive the file in chunks into a private staging folder (hashed and checked on the way), then
        store it as a new version with the import options chosen in the dialog."""
        async with self:
            if self.uploading or self.importing:
                return None
            options = self._options()
            if options is None:
                return None
            self.uploading, self.upload_percent, self.upload_phase, self.upload_error = True, 0, "Sending…", ""
            dataset_id = self.dataset_id
        check = await invoke(self, calls.check_write(dataset_id))
        if not check.ok:
            return await self._upload_failed("", check.events)
        with storage.staging() as work:
            sink = storage.UploadSink(work.path("upload"))
            try:
                received = await upload.receive(chunks, sink.write, limit=get_settings().max_upload_bytes)
            except (PayloadTooLarge, upload.UploadRefused) as error:
                sink.abort()
                return await self._upload_failed(error.message)
            staged = sink.close()
            if received.filename is None:
                return await self._upload_failed("Choose a file first")
            async with self:
                self.upload_percent, self.upload_phase = 100, "Reading the data and computing its profile…"
            outcome = await invoke(self, calls.import_file(dataset_id, staged, received.filename, options), write=True)
        if not outcome.ok or isinstance(outcome.value, Refusal):
            return await self._upload_failed(outcome.value.message if outcome.ok else "", outcome.events)
        async with self:
            self.uploading, self.upload_phase = False, ""
            self._reset_import()
        return [rx.clear_selected_files(UPLOAD_ID),
                *(await self._imported(outcome.value.message, outcome.value.warnings) or [])]

    async def _imported(self, message: str, warnings: list[str]):
        """After a new version (or a duplicate): close the dialog, re-read the page, say what to check."""
        async with self:
            self.upload_open = False
        events = await self._refresh()
        notes = [rx.toast.warning(" ".join(warnings), duration=15000)] if warnings else []
        return [rx.toast.success(message), *notes, *(events or [])]

    async def _upload_failed(self, message: str, events: list | None = None):
        async with self:
            self.uploading, self.upload_phase, self.upload_error = False, "", message
            self.upload_open = self.upload_open and not events
        return events or None

    # --- split -----------------------------------------------------------------------------------

    @rx.event
    def open_split(self, value: bool):
        self.split_open, self.split_errors = bool(value), messages({}, SPLIT_KEYS)
        self.form_version += 1

    @rx.event(background=True)
    async def split(self, form: dict[str, Any]):
        """Split the newest version into train/validation/test."""
        problems, request = parse_split(form)
        async with self:
            if self.working:
                return None
            self.split_errors, self.working = messages(problems, SPLIT_KEYS), request is not None
            dataset_id = self.dataset_id
        if request is None:
            return None
        outcome = await invoke(self, calls.split(dataset_id, request), write=True)
        failed = await self._finish(outcome, "split_errors", SPLIT_KEYS, dialog="split_open")
        if failed is not None:
            return failed or None
        return [rx.toast.success(f"Version {outcome.value} split"), *(await self._refresh() or [])]

    async def _finish(self, outcome, errors: str, keys: tuple[str, ...], *, dialog: str | None = None):  # noqa: ANN001
        """End a form's action: None on success; else the events to return (none for a refusal shown inline)."""
        async with self:
            self.working = False
            if outcome.ok and isinstance(outcome.value, Refusal):
                setattr(self, errors, messages(outcome.value.fields | {"form": outcome.value.message}, keys))
                return []
            if outcome.ok and dialog:
                setattr(self, dialog, False)
        return None if outcome.ok else outcome.events

    # --- transform -------------------------------------------------------------------------------

    @rx.event
    def open_transform(self, value: bool):
        self.transform_open, self.step_errors = bool(value), messages({}, STEP_KEYS)
        self.steps, self._steps, self.step_op = [], [], "select"
        self.form_version += 1

    @rx.event
    def choose_step(self, op: str):
        """Pick the kind of step the builder adds next."""
        self.step_op = op if op in STEP_OPS else "select"
        self.step_errors = messages({}, STEP_KEYS)

    @rx.event
    def add_step(self, form: dict[str, Any]):
        """Check the builder's inputs and append the step (no service call: the run checks it again)."""
        if len(self._steps) >= MAX_STEPS:
            self.step_errors = messages({"form": f"At most {MAX_STEPS} steps"}, STEP_KEYS)
            return
        problems, step = parse_step(self.step_op, str(form.get("columns", "")), str(form.get("argument", "")))
        self.step_errors = messages(problems, STEP_KEYS)
        if step is not None:
            self._steps = [*self._steps, step]
            self.steps = [describe_step(s) for s in self._steps]
            self.form_version += 1

    @rx.event
    def remove_step(self, index: int):
        if isinstance(index, int) and 0 <= index < len(self._steps):
            self._steps = self._steps[:index] + self._steps[index + 1:]
            self.steps = [describe_step(s) for s in self._steps]

    @rx.event(background=True)
    async def run_transform(self, form: dict[str, Any]):
        """Run the steps on the newest version; the result is a new version with lineage."""
        async with self:
            if self.working:
                return None
            if not self._steps:
                self.step_errors = messages({"form": "Add at least one step"}, STEP_KEYS)
                return None
            self.working, self.step_errors = True, messages({}, STEP_KEYS)
            dataset_id, steps = self.dataset_id, list(self._steps)
        message = str(form.get("message", "") or "").strip()[:500] or None
        outcome = await invoke(self, calls.transform(dataset_id, steps, message), write=True)
        failed = await self._finish(outcome, "step_errors", STEP_KEYS, dialog="transform_open")
        if failed is not None:
            return failed or None
        return [rx.toast.success(f"Created version {outcome.value}"), *(await self._refresh() or [])]

    # --- validation rules --------------------------------------------------------------------------

    @rx.event
    def add_rule(self, form: dict[str, Any]):
        """Check a rule's inputs and add it to the list to run."""
        if len(self._rules) >= MAX_RULES:
            self.rule_errors = messages({"form": f"At most {MAX_RULES} rules"}, RULE_KEYS)
            return
        problems, rule = parse_rule(str(form.get("kind", "")), str(form.get("rule_column", "")),
                                    str(form.get("rule_argument", "")))
        self.rule_errors = messages(problems, RULE_KEYS)
        if rule is not None:
            self._rules = [*self._rules, rule]
            self.rules = [_rule_text(r) for r in self._rules]
            self.form_version += 1

    @rx.event
    def clear_rules(self):
        self._rules, self.rules, self.rule_results, self.rules_summary = [], [], [], ""

    @rx.event(background=True)
    async def check_rules(self):
        """Run the rules on the newest version and show a result per rule."""
        async with self:
            if self.checking or not self._rules:
                self.rule_errors = messages({} if self._rules else {"form": "Add a rule first"}, RULE_KEYS)
                return None
            self.checking, dataset_id, rules = True, self.dataset_id, list(self._rules)
        outcome = await invoke(self, calls.validate(dataset_id, rules))
        async with self:
            self.checking = False
            if outcome.ok and isinstance(outcome.value, Refusal):
                self.rule_errors = messages({"form": outcome.value.message}, RULE_KEYS)
            elif outcome.ok:
                report = outcome.value
                self.rule_results = rule_views(report)
                failed = sum(not r.passed for r in self.rule_results)
                self.rules_summary = (f"All {len(self.rule_results)} rules passed on v{report['version']}" if not failed
                                      else f"{failed} of {len(self.rule_results)} rules failed on v{report['version']}")
        return outcome.events or None

    # --- sharing ---------------------------------------------------------------------------------

    @rx.event(background=True)
    async def share(self, form: dict[str, Any]):
        """Grant a user (by username), a role or a department read or write access."""
        problems, entry = parse_share(form)
        async with self:
            if self.working:
                return None
            self.share_errors = messages(problems, SHARE_KEYS)
            self.working, dataset_id = entry is not None, self.dataset_id
        if entry is None:
            return None
        outcome = await invoke(self, calls.share(dataset_id, entry), write=True)
        failed = await self._finish(outcome, "share_errors", SHARE_KEYS)
        if failed is not None:
            return failed or None
        async with self:
            self.form_version += 1
        return [rx.toast.success("Access granted"), *(await self._refresh() or [])]

    @rx.event(background=True)
    async def revoke(self, subject_type: str, subject: str):
        """Take a subject off the access list."""
        async with self:
            dataset_id = self.dataset_id
        outcome = await invoke(self, calls.revoke(dataset_id, str(subject_type)[:16], str(subject)[:80]), write=True)
        if not outcome.ok:
            return outcome.events
        if isinstance(outcome.value, Refusal):
            return rx.toast.error(outcome.value.message)
        return [rx.toast.success("Access removed"), *(await self._refresh() or [])]

    # --- computed --------------------------------------------------------------------------------

    @rx.var
    def step_hint(self) -> dict[str, str]:
        """What the builder's inputs mean for the chosen step (empty: the input is hidden)."""
        _label, columns, argument = STEP_OPS.get(self.step_op, ("", None, None))
        return {"columns": columns or "", "argument": argument or ""}

    @rx.var
    def upload_failed(self) -> bool:
        return self.upload_error != ""


def _rule_text(rule: dict[str, Any]) -> str:
    label = RULE_TYPES.get(rule["type"], (rule["type"],))[0]
    column = f" — {rule['column']}" if rule.get("column") else ""
    bounds = f" [{rule.get('min', '')}..{rule.get('max', '')}]" if "min" in rule or "max" in rule else ""
    extra = rule.get("pattern") or rule.get("expression") or ", ".join(str(v) for v in rule.get("values") or [])
    return f"{label}{column}{bounds}{': ' + extra if extra else ''}"


