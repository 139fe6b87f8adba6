"""/catalog/endpoints: every endpoint with its status, deployed version(s), traffic split, p95 latency and
error rate over the last hour (from the prediction log), and the "New endpoint" form for ml_ops."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app.state.catalog.endpoints.view import METRICS_MINUTES, endpoint_href, endpoint_row
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.core.pagination import PageParams
from backend.endpoints import predlog, service

URL_KEYS = PAGE_KEYS
WRITE = "endpoint:write"  # only to show or hide the controls: the service decides
FOLLOW = "stage:production"


def model_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Model id → name for the rows (looked up like `deploy` does: the endpoint names its model anyway)."""
    found = (registry.find_model(session=session, model_id=i) for i in ids)
    return {m.id: m.name for m in found if m is not None}


def read_page(cursor: str | None):
    """A unit of work reading one page of endpoints with their last hour's figures."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None, bool]:
        endpoints, next_cursor = service.list_endpoints(session=session, actor=principal,
                                                        params=PageParams(limit=PAGE_SIZE, cursor=cursor))
        names = model_names(session, {e.model_id for e in endpoints if e.model_id})
        rows = []
        for e in endpoints:
            figures = service.metrics(session=session, actor=principal, endpoint_id=e.id, minutes=METRICS_MINUTES)
            rows.append(endpoint_row(e.model_dump(), names.get(e.model_id or "", ""), service.traffic_shares(e), figures))
        return rows, next_cursor, principal.can(WRITE)

    return work


def read_deployable(session: Session, principal: Principal) -> list[dict[str, Any]]:
    return service.deployable_versions(session=session, actor=principal)


def version_options(models: list[dict[str, Any]], model_id: str) -> dict[str, str]:
    """value → words for the version select: following production first (when the model has one), then
    each servable version with its stage."""
    model = next((m for m in models if m["model_id"] == model_id), None)
    if model is None:
        return {}
    options = {}
    if any(v["stage"] == "production" for v in model["versions"]):
        options[FOLLOW] = "Follow stage Production (re-deploys when it moves)"
    for v in model["versions"]:
        stage = "" if v["stage"] in ("none", None) else f" · {v['stage'].capitalize()}"
        options[v["version"]] = f"Version {v['version']}{stage}"
    return options


def deploy_request(model_id: str, choice: str) -> dict[str, Any]:
    if choice == FOLLOW:
        return {"modelId": model_id, "stage": "production", "followStage": True}
    return {"modelId": model_id, "version": choice}


def create_and_deploy(name: str, description: str, model_id: str, choice: str):
    """A unit of work creating the endpoint and deploying the chosen version (one transaction: a version
    that cannot be served leaves no endpoint behind)."""

    def work(session: Session, principal: Principal) -> str:
        endpoint = service.create_endpoint(session=session, actor=principal,
                                           data={"name": name, "description": description or None})
        if model_id:
            service.deploy(session=session, actor=principal, endpoint_id=endpoint.id,
                           data=deploy_request(model_id, choice))
        return endpoint.id

    return work


class EndpointsState(TableMixin, rx.State):
    """The endpoints table and the new-endpoint dialog."""

    allowed: bool = True
    can_create: bool = False
    new_open: bool = False
    new_model: str = ""
    new_version: str = ""
    new_error: str = ""
    saving: bool = False
    _models: list[dict[str, Any]] = []
    model_options: dict[str, str] = {}

    @rx.var
    def version_options(self) -> dict[str, str]:
        return version_options(self._models, self.new_model)

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(URL_KEYS)
            self._open_url_page(params)
            self.loading = True
            cursor = self._cursor
        await rx.run_in_thread(predlog.flush)  # this process's queued log rows, before the read snapshot
        outcome = await invoke(self, read_page(cursor))
        async with self:
            self.allowed = outcome.code != "AUTH_002"
            rows, next_cursor, can_create = outcome.value if outcome.ok else ([], None, False)
            self.can_create = can_create
            self._show_page(rows, next_cursor)
        return outcome.events if self.allowed else None

    @rx.event(background=True)
    async def open_new(self, value: bool = True):
        async with self:
            self.new_open, self.new_error = value, ""
        if not value:
            return None
        outcome = await invoke(self, read_deployable)
        async with self:
            self._models = outcome.value if outcome.ok else []
            self.model_options = {m["model_id"]: m["name"] for m in self._models}
            if self.new_model not in self.model_options:
                self.new_model = next(iter(self.model_options), "")
            self.new_version = next(iter(version_options(self._models, self.new_model)), "")
        return outcome.events or None

    @rx.event
    def pick_model(self, model_id: str):
        self.new_model = model_id
        self.new_version = next(iter(version_options(self._models, model_id)), "")

    @rx.event
    def pick_version(self, value: str):
        self.new_version = value

    @rx.event(background=True)
    async def create(self, form: dict[str, Any]):
        name = str(form.get("name", "")).strip()[:120]
        description = str(form.get("description", "")).strip()[:2000]
        async with self:
            if self.saving:
                return None
            if not name:
                self.new_error = "Give the endpoint a name (applications see it in the URL of their calls' logs)."
                return None
            self.saving, self.new_error = True, ""
            model_id, choice = self.new_model, self.new_version
        outcome = await invoke(self, create_and_deploy(name, description, model_id, choice), write=True)
        async with self:
            self.saving = False
            if not outcome.ok:  # the dialog stays open with what was typed; the toast says why
                return outcome.events
            self.new_open = False
        return [rx.toast.success(f"Endpoint {name} created"), rx.redirect(endpoint_href(outcome.value))]

