"""One model: header, overview, versions (new version, artifact upload, promote, rollback), metrics, lineage
and stage history. The page reads everything in one unit of work on load and again after each change.

Buttons show only for roles that hold the permission; every handler names the permission again and the
service checks the rules (stages, artifact and metrics before production, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import routes
from aisystem_app.components.facts import Fact
from aisystem_app.components.feedback import toast_error
from aisystem_app.errors import message_for
from aisystem_app.state import upload
from aisystem_app.state.catalog.models import view
from aisystem_app.state.lineage import LineageMixin
from aisystem_app.state.marketplace.common import listing_href, pricing_facts
from aisystem_app.state.session import invoke
from aisystem_app.state.url import TabsMixin
from backend.auth import service as auth_service
from backend.auth.principal import Principal
from backend.catalog.model_registry import artifacts
from backend.catalog.model_registry import schemas as s
from backend.catalog.model_registry import service as registry
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.lineage.schemas import LineageGraph
from backend.marketplace import schemas as market_schemas
from backend.marketplace import service as market

# Only to show or hide actions: the registry service decides what the user may do.
CREATE, WRITE, PROMOTE = "model:create", "model:write", "model:promote"
VERSIONS_SHOWN = 200
HISTORY_PAGE = 50
TABS = ("overview", "versions", "metrics", "lineage", "history")  # `?tab=`; the first is the default
VIEW_THROTTLE_SECONDS = 600  # as the REST route: one counted view per user and model in ten minutes
UPLOAD_ID = "artifact-upload"
CONFIG_SUFFIX = ".json"


@dataclass(frozen=True)
class Detail:
    """Everything the page shows, read in one unit of work."""

    doc: s.ModelRead
    creator: str
    versions: list[view.VersionView]
    production: str
    metrics: s.MetricsRead
    lineage: LineageGraph
    history: list[dict[str, str]]
    history_cursor: str | None
    can_rollback: bool
    permissions: dict[str, bool]
    user_id: str
    listing: market_schemas.MarketplaceModel | None = None  # its live marketplace listing, if any


def marketplace_listing(session: Session, principal: Principal, model_id: str) -> market_schemas.MarketplaceModel | None:
    """The model's live marketplace listing, when there is one the user may see."""
    row = market.find_listing_for_model(session=session, model_id=model_id)
    if row is None:
        return None
    try:
        return market.get_listing(session=session, actor=principal, listing_id=row.id, with_source=False)
    except AISystemError:
        return None


def with_listing_price(groups: list[view.FactGroup], listing: market_schemas.MarketplaceModel | None) -> list[view.FactGroup]:
    """A listed model's price is its listing's (one source of truth): the Pricing group shows the
    listing's tiers, worded as the listing page words them, in place of the catalog's own figures."""
    if listing is None:
        return groups
    priced = view.FactGroup("Pricing (marketplace listing)",
                            [Fact(label, value) for label, value in pricing_facts(listing.pricing)])
    kept = [priced if g.title == "Pricing" else g for g in groups]
    return kept if any(g is priced for g in kept) else [*kept, priced]


def _names(session: Session, user_ids: set[str | None]) -> dict[str, str]:
    names = {}
    for user_id in filter(None, user_ids):
        try:
            names[user_id] = auth_service.get_user(session=session, user_id=user_id).display_name
        except AISystemError:
            names[user_id] = "a former user"
    return names


def _moves(stage: str, may_promote: bool) -> list[str]:
    return list(registry.STAGE_TRANSITIONS.get(stage, ())) if may_promote else []


def read_detail(model_id: str):
    """A unit of work reading the model, its versions, metrics, lineage and the newest stage history."""

    def work(session: Session, principal: Principal) -> Detail:
        kw = {"session": session, "actor": principal, "model_id": model_id}
        doc = registry.model_read(registry.get_model(**kw))
        rows, _ = registry.list_versions(**kw, params=PageParams(limit=VERSIONS_SHOWN), descending=True)
        history, cursor = registry.list_stage_history(**kw, params=PageParams(limit=HISTORY_PAGE))
        ended, _ = registry.list_stage_history(**kw, params=PageParams(limit=HISTORY_PAGE), stage="production")
        names = _names(session, {doc.created_by, *(r.created_by for r in rows)})
        may = {p: principal.can(p) for p in (CREATE, WRITE, PROMOTE)}
        production = next((r.version for r in rows if r.stage == "production"), "")
        versions = [view.version_view(registry.version_read(r, doc.parameters), names.get(r.created_by or "", view.NONE),
                                      _moves(r.stage, may[PROMOTE])) for r in rows]
        return Detail(
            doc=doc, creator=names.get(doc.created_by or "", view.NONE), versions=versions, production=production,
            metrics=registry.model_metrics(**kw), lineage=registry.lineage_graph(**kw),
            history=[view.history_row(registry.history_read(h)) for h in history], history_cursor=cursor,
            can_rollback=any(h.ended_at is not None and h.version != production for h in ended),
            permissions=may, user_id=principal.user_id, listing=marketplace_listing(session, principal, model_id),
        )

    return work


def read_history(model_id: str, cursor: str):
    """A unit of work reading the next (older) page of stage history."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None]:
        rows, next_cursor = registry.list_stage_history(session=session, actor=principal, model_id=model_id,
                                                        params=PageParams(limit=HISTORY_PAGE, cursor=cursor))
        return [view.history_row(registry.history_read(h)) for h in rows], next_cursor

    return work


def create_version(model_id: str, data: s.VersionCreate, session: Session, principal: Principal) -> str:
    return registry.create_version(session=session, actor=principal, model_id=model_id, data=data).version


def promote(model_id: str, version: str, stage: str, reason: str | None, expected: str | None,
            session: Session, principal: Principal) -> str:
    _model, row, _replaced = registry.promote_version(session=session, actor=principal, model_id=model_id,
                                                      version=version, stage=stage, reason=reason,
                                                      expected_current_version=expected)
    return row.version


def roll_back(model_id: str, reason: str | None, session: Session, principal: Principal) -> str:
    _model, row, _replaced = registry.rollback(session=session, actor=principal, model_id=model_id, reason=reason)
    return row.version


def check_upload(model_id: str, version: str, session: Session, principal: Principal) -> None:
    registry.check_artifact_upload(session=session, actor=principal, model_id=model_id, version=version)


def attach(model_id: str, version: str, received: artifacts.ReceivedFile, declared: str | None,
           session: Session, principal: Principal) -> str:
    row = registry.attach_artifact(session=session, actor=principal, model_id=model_id, version=version,
                                   received=received, declared_format=declared)
    return row.artifact_format or ""


async def receive_upload(chunks: rx.UploadChunkIterator) -> artifacts.ReceivedFile:
    """Stream the weights file to a temp file in chunks (hashed and size-limited as they arrive); a `.json`
    file beside it is the config. The temp file is removed if anything goes wrong."""
    sink = await rx.run_in_thread(artifacts.UploadSink)
    try:
        got = await upload.receive(chunks, sink.write, side_suffix=CONFIG_SUFFIX, side_limit=artifacts.MAX_CONFIG_BYTES)
        if got.filename is None:
            raise upload.UploadRefused("Choose the model file to upload")
        parsed = artifacts.parse_config(got.side) if got.side else None
        return await rx.run_in_thread(partial(sink.finish, file_name=got.filename, config=parsed))
    except BaseException:
        sink.abort()
        raise


class ModelDetailState(TabsMixin, LineageMixin, rx.State):
    """The model page. Every handler acts on the model of the page's URL and names its permission."""

    loading: bool = True
    found: bool = False
    model_key: str = ""
    name: str = ""
    model_type: str = ""
    status: str = ""
    production: str = ""
    description: str = ""
    tags: list[str] = []
    capabilities: list[str] = []
    documentation: str = ""
    paper: str = ""
    groups: list[view.FactGroup] = []
    listing_href: str = ""  # the model's marketplace listing
    versions: list[view.VersionView] = []
    can_create: bool = False
    can_write: bool = False
    can_promote: bool = False
    can_rollback: bool = False
    # metrics
    score_chart: go.Figure = go.Figure()
    other_chart: go.Figure = go.Figure()
    has_scores: bool = False
    has_others: bool = False
    score_caption: str = ""
    other_caption: str = ""
    metric_names: list[str] = []
    metric_rows: list[list[str]] = []
    # history
    history: list[dict[str, str]] = []
    history_more: bool = False
    _history_cursor: str | None = None
    # the stage-move dialog
    move_open: bool = False
    move_kind: str = "promote"
    move_version: str = ""
    move_stage: str = ""
    move_title: str = ""
    moving: bool = False
    # the new-version dialog
    version_open: bool = False
    version_errors: dict[str, str] = {}
    saving_version: bool = False
    # the upload dialog
    upload_open: bool = False
    upload_version: str = ""
    upload_format: str = "auto"
    upload_percent: int = 0
    uploading: bool = False

    @rx.event(background=True)
    async def load(self):
        """Read the model of the page's URL and open the tab it names."""
        async with self:
            model_key = routes.id_in_path(self.router.url.path)
            if self._read_tab(TABS) and self.found and model_key == self.model_key:
                return None
            self.model_key = model_key
            self.loading, self.found = True, False
        return await self._refresh()

    async def _refresh(self):
        async with self:
            model_id = self.model_key
        outcome = await invoke(self, read_detail(model_id))
        async with self:
            self.loading, self.found = False, outcome.ok
            if outcome.ok:
                self._show(outcome.value)
        if outcome.ok:
            await rx.run_in_thread(partial(registry.record_activity_now, model_id=model_id, kind="view",
                                           user_id=outcome.value.user_id, throttle_seconds=VIEW_THROTTLE_SECONDS))
        return outcome.events or None

    def _show(self, detail: Detail) -> None:
        doc = detail.doc
        self.name, self.model_type, self.status, self.production = doc.name, doc.type, doc.status, detail.production
        meta = doc.metadata
        self.description, self.tags, self.capabilities = meta.description or "", list(meta.tags), list(doc.capabilities)
        self.documentation, self.paper = meta.documentation or "", meta.paper or ""
        self.groups = with_listing_price(view.overview_groups(doc, detail.creator), detail.listing)
        self.listing_href = listing_href(detail.listing.id) if detail.listing else ""
        self.versions = detail.versions
        self.can_create, self.can_write = detail.permissions[CREATE], detail.permissions[WRITE]
        self.can_promote = detail.permissions[PROMOTE]
        self.can_rollback = detail.can_rollback and self.can_promote
        charts = view.metric_figures(detail.metrics)
        self.score_chart, self.has_scores = charts.scores or go.Figure(), charts.scores is not None
        self.other_chart, self.has_others = charts.others or go.Figure(), charts.others is not None
        self.score_caption, self.other_caption = charts.score_caption, charts.other_caption
        self.metric_names, self.metric_rows = view.metric_table(detail.metrics)
        self._show_lineage(detail.lineage)
        self.history, self._history_cursor = detail.history, detail.history_cursor
        self.history_more = detail.history_cursor is not None

    @rx.event(background=True)
    async def more_history(self):
        """Append the next (older) page of the stage history."""
        async with self:
            model_id, cursor = self.model_key, self._history_cursor
        if cursor is None:
            return None
        outcome = await invoke(self, read_history(model_id, cursor))
        async with self:
            if outcome.ok:
                rows, self._history_cursor = outcome.value
                self.history = [*self.history, *rows]
                self.history_more = self._history_cursor is not None
        return outcome.events or None

    # --- promote and roll back ------------------------------------------------------------------------

    @rx.event
    def ask_promote(self, version: str, stage: str):
        """Open the reason dialog for moving `version` to `stage`."""
        if stage not in view.STAGE_ACTIONS:
            return
        self.move_kind, self.move_version, self.move_stage = "promote", str(version)[:20], stage
        self.move_title = f"{view.STAGE_ACTIONS[stage]}: version {self.move_version}"
        self.move_open = True

    @rx.event
    def ask_rollback(self):
        """Open the reason dialog for rolling production back."""
        self.move_kind, self.move_version, self.move_stage = "rollback", "", "production"
        self.move_title = "Roll back to the previous production version"
        self.move_open = True

    @rx.event
    def close_move(self, is_open: bool = False):
        self.move_open = bool(is_open) and self.move_open

    @rx.event(background=True)
    async def confirm_move(self, form: dict):
        """Do the move the dialog asked for, with the reason given."""
        reason = str(form.get("reason") or "").strip()[:1000] or None
        async with self:
            if self.moving:
                return None
            self.moving = True
            model_id, kind, version, stage = self.model_key, self.move_kind, self.move_version, self.move_stage
            expected = self.production or None
        if kind == "rollback":
            work, done = partial(roll_back, model_id, reason), "Rolled back to version {}"
        else:
            work, done = partial(promote, model_id, version, stage, reason, expected), f"Version {{}} is now in {stage}"
        outcome = await invoke(self, work, write=True)
        async with self:
            self.moving = False
            self.move_open = not outcome.ok and self.move_open
        if not outcome.ok:
            return [*outcome.events, *(await self._refresh() or [])]
        return [rx.toast.success(done.format(outcome.value)), *(await self._refresh() or [])]

    # --- new version -----------------------------------------------------------------------------------

    @rx.event
    def open_version(self, is_open: bool = True):
        self.version_open, self.version_errors = bool(is_open), {}

    @rx.event(background=True)
    async def add_version(self, form: dict):
        """Check the form against the service's rules and record the version."""
        async with self:
            if self.saving_version:
                return None
            errors, data = view.version_form(form)
            self.version_errors = errors
            if data is None:
                return None
            self.saving_version, model_id = True, self.model_key
        outcome = await invoke(self, partial(create_version, model_id, data), write=True)
        async with self:
            self.saving_version = False
            if outcome.code == "MODEL_002":
                self.version_errors = {"version": f"Version {data.version} exists already"}
                return None
            self.version_open = not outcome.ok
        if not outcome.ok:
            return outcome.events
        return [rx.toast.success(f"Added version {outcome.value}"), *(await self._refresh() or [])]

    # --- artifact upload -------------------------------------------------------------------------------

    @rx.event
    def open_upload(self, version: str):
        """Open the upload dialog for a version."""
        self.upload_version, self.upload_format = str(version)[:20], "auto"
        self.upload_percent, self.upload_open = 0, True

    @rx.event
    def close_upload(self, is_open: bool = False):
        if not self.uploading:
            self.upload_open = bool(is_open) and self.upload_open

    @rx.event
    def choose_format(self, fmt: str):
        self.upload_format = fmt if fmt in view.FORMATS else "auto"

    @rx.event
    def upload_progress(self, progress: dict):
        """The browser's progress while it sends the file."""
        self.upload_percent = max(0, min(100, int(float(progress.get("progress") or 0) * 100)))

    @rx.event(background=True)
    async def upload_artifact(self, chunks: rx.UploadChunkIterator):
        """Receive the artifact (streamed to disk in chunks) and attach it to the dialog's version."""
        async with self:
            if self.uploading:
                return toast_error("An upload is already running")
            self.uploading, self.upload_percent = True, 0
            model_id, version = self.model_key, self.upload_version
            declared = None if self.upload_format == "auto" else self.upload_format
        try:
            return await self._upload(chunks, model_id, version, declared)
        finally:
            async with self:
                self.uploading = False

    async def _upload(self, chunks: rx.UploadChunkIterator, model_id: str, version: str, declared: str | None):
        checked = await invoke(self, partial(check_upload, model_id, version))
        if not checked.ok:
            return checked.events  # returning early makes the browser's upload fail too
        try:
            received = await receive_upload(chunks)
        except AISystemError as error:
            return toast_error(error.message if isinstance(error, upload.UploadRefused) else message_for(error))
        outcome = await invoke(self, partial(attach, model_id, version, received, declared),
                               write=True)
        received.path.unlink(missing_ok=True)  # consumed by the service when it ran; removed here if it did not
        if not outcome.ok:
            return outcome.events
        async with self:
            self.upload_open, self.upload_percent = False, 100
        done = (f"Stored the artifact of version {version} as an opaque file: hashed and downloadable, never loaded"
                if outcome.value == "opaque" else f"Uploaded the {outcome.value} artifact of version {version}")
        return [rx.toast.success(done),
                rx.clear_selected_files(UPLOAD_ID), *(await self._refresh() or [])]

