"""/catalog/endpoints/[endpoint_id]: one endpoint. Status and deployment controls (deploy, undeploy, scale),
the traffic split (canary percentage, blue-green switch), a "Try it" form built from the deployed version's
input schema with the prediction and its explanation, model keys, the prediction log's tail and metrics.
The open tab is in the URL. Controls show by permission; the service decides again on each click."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.feedback import toast_error
from aisystem_app.state.catalog.endpoints import view
from aisystem_app.state.catalog.endpoints.index import deploy_request, model_names, version_options
from aisystem_app.state.session import invoke
from aisystem_app.state.url import TabsMixin
from backend.auth.principal import Principal
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.endpoints import predlog, service

TABS = ("overview", "try", "metrics", "logs", "keys")
WRITE = "endpoint:write"
INVOKE = "endpoint:invoke"
LOG_TAIL = 50
KEY_LIMIT = 100


@dataclass
class FormColumn:
    """One input of the "Try it" form."""

    name: str = ""
    kind: str = "numeric"
    options: list[str] = field(default_factory=list)
    value: str = ""


@dataclass
class Share:
    version: str = ""
    role: str = ""
    percent: str = ""


@dataclass
class Probability:
    label: str = ""
    percent: str = ""
    width: str = "0"
    top: bool = False


@dataclass
class Detail:
    doc: dict[str, Any]
    model_name: str
    shares: list[dict[str, Any]]
    form: dict[str, Any] | None
    metrics: dict[str, Any]
    drift: dict[str, Any] | None
    logs: list[dict[str, str]]
    keys: list[dict[str, str]] | None
    deployable: list[dict[str, Any]] | None
    may_invoke: bool


def read_detail(endpoint_id: str):
    """A unit of work reading everything the page shows."""

    def work(session: Session, principal: Principal) -> Detail:
        endpoint = service.get_endpoint(session=session, actor=principal, endpoint_id=endpoint_id)
        doc = endpoint.model_dump()
        names = model_names(session, {endpoint.model_id} if endpoint.model_id else set())
        figures = service.metrics(session=session, actor=principal, endpoint_id=endpoint.id,
                                  minutes=view.METRICS_MINUTES)
        drift = None
        if endpoint.status == "running":
            try:
                drift = service.drift(session=session, actor=principal, endpoint_id=endpoint.id,
                                      minutes=view.METRICS_MINUTES)
            except AISystemError:  # no platform package: the page says drift is not measured
                drift = None
        entries, _ = service.logs(session=session, actor=principal, endpoint_id=endpoint.id,
                                  params=PageParams(limit=LOG_TAIL))
        may_write = principal.can(WRITE)
        keys = deployable = None
        if may_write:
            rows, _ = service.list_keys(session=session, actor=principal, endpoint_id=endpoint.id,
                                        params=PageParams(limit=KEY_LIMIT))
            keys = [view.key_row(k) for k in rows]
            deployable = service.deployable_versions(session=session, actor=principal)
        return Detail(doc, names.get(endpoint.model_id or "", ""), service.traffic_shares(endpoint),
                      service.input_form(session=session, actor=principal, endpoint_id=endpoint.id), figures,
                      drift, [view.log_row(e) for e in entries], keys, deployable, principal.can(INVOKE))

    return work


def typed(columns: list[FormColumn], form: dict[str, Any]) -> dict[str, Any]:
    """The form's text as the instance the model takes: numbers for numeric columns (empty is null)."""
    row: dict[str, Any] = {}
    for column in columns:
        text = str(form.get(column.name, "")).strip()
        if column.kind == "numeric":
            try:
                number = float(text) if text else None
            except ValueError:
                number = text  # the service names the field (INFER_002)
            row[column.name] = number if not isinstance(number, float) or math.isfinite(number) else text
        else:
            row[column.name] = text or None
    return row


def try_it(endpoint_id: str, instance: dict[str, Any]):
    """A unit of work predicting one instance and explaining it (two calls: the prediction goes through
    the traffic split like an application's, the explanation is of the primary version)."""

    def work(session: Session, principal: Principal) -> tuple[dict[str, Any], dict[str, Any] | None]:
        answer = service.predict(session=session, actor=principal, endpoint_id=endpoint_id, instances=[instance])
        try:
            explained = service.explain(session=session, actor=principal, endpoint_id=endpoint_id,
                                        instances=[instance])
        except AISystemError as exc:
            if exc.code != "INFER_001":  # INFER_001: a model family it cannot explain
                raise
            explained = None
        return answer, explained

    return work


def act(endpoint_id: str, action: str, data: dict[str, Any] | None = None):
    """A unit of work for one control: deploy, undeploy, scale, traffic, switch, key create / revoke."""

    def work(session: Session, principal: Principal) -> Any:
        common = {"session": session, "actor": principal, "endpoint_id": endpoint_id}
        if action == "deploy":
            return service.deploy(**common, data=data)
        if action == "undeploy":
            return service.undeploy(**common)
        if action == "scale":
            return service.scale(**common, data=data)
        if action == "traffic":
            return service.set_traffic(**common, data=data)
        if action == "switch":
            return service.switch(**common)
        if action == "create_key":
            _row, secret = service.create_key(**common, data=data)
            return secret
        if action == "revoke_key":
            return service.revoke_key(**common, key_id=data["keyId"])
        raise ValueError(action)

    return work


def show_once(secret: str) -> rx.event.EventSpec:
    """Put a new key into the dialog's read-only field in the browser only: kept in a state var it would be
    stored with the tab's state (on disk or in Redis) in clear, where the platform keeps only an HMAC. The
    field renders with the state change that precedes this script, so the script waits for it briefly."""
    return rx.call_script(
        f"(function put(tries) {{ const field = document.getElementById('new-key-secret');"
        f" if (field) {{ field.value = {json.dumps(secret)}; field.select(); }}"
        f" else if (tries > 0) {{ setTimeout(() => put(tries - 1), 50); }} }})(60)")


class EndpointState(TabsMixin, rx.State):
    """One endpoint; every handler acts on the endpoint of the page's URL."""

    endpoint_id: str = ""
    found: bool = True
    loading: bool = True
    busy: bool = False
    name: str = ""
    description: str = ""
    status: str = ""
    model_id: str = ""
    model_name: str = ""
    deployed: str = ""
    version: str = ""
    traffic: str = ""
    shares: list[Share] = []
    facts: list[dict[str, str]] = []
    may_write: bool = False
    may_invoke: bool = False
    # controls
    candidate: str = ""
    canary_percent: int = 10
    has_candidate: bool = False
    replicas: str = "1"
    min_replicas: str = "1"
    max_replicas: str = "4"
    auto_scaling: bool = False
    target_utilization: str = "70"
    deploy_open: bool = False
    deploy_model: str = ""
    deploy_choice: str = ""
    model_options: dict[str, str] = {}
    _deployable: list[dict[str, Any]] = []
    # try it
    columns: list[FormColumn] = []
    examples: list[str] = []
    example: str = ""
    form_key: int = 0
    task: str = ""
    predicted: str = ""
    answered_by: str = ""
    probabilities: list[Probability] = []
    explanation: go.Figure = go.Figure()
    has_explanation: bool = False
    explanation_note: str = ""
    _examples: list[dict[str, Any]] = []
    # metrics and logs
    p50: str = ""
    p95: str = ""
    p99: str = ""
    requests: str = ""
    error_rate: str = ""
    has_traffic: bool = False
    latency_chart: go.Figure = go.Figure()
    requests_chart: go.Figure = go.Figure()
    drift_rows: list[dict[str, str]] = []
    drift_note: str = ""
    logs: list[dict[str, str]] = []
    # keys
    keys: list[dict[str, str]] = []
    key_open: bool = False
    key_created: bool = False  # the key itself never sits in the state (which is persisted): see `create_key`

    @rx.var
    def candidate_options(self) -> dict[str, str]:
        """Versions of the deployed model other than the primary, for the canary."""
        options = version_options(self._deployable, self.model_id)
        return {k: v for k, v in options.items() if k != self.version and k != "stage:production"}

    @rx.var
    def deploy_options(self) -> dict[str, str]:
        return version_options(self._deployable, self.deploy_model)

    @rx.event(background=True)
    async def load(self):
        async with self:
            endpoint_id = routes.id_in_path(self.router.url.path, 40)
            if self._read_tab(TABS) and self.found and endpoint_id == self.endpoint_id and self.name:
                return None
            if endpoint_id != self.endpoint_id:
                self.name, self.predicted, self.has_explanation, self.key_created = "", "", False, False
                self.example = ""
            self.endpoint_id, self.loading = endpoint_id, True
        return await self._refresh()

    async def _refresh(self):
        async with self:
            endpoint_id = self.endpoint_id
        # This process's queued log rows first: a read session's snapshot would not see a flush made inside it.
        await rx.run_in_thread(predlog.flush)
        outcome = await invoke(self, read_detail(endpoint_id))
        async with self:
            self.loading = False
            if not outcome.ok:
                self.found = outcome.code not in ("ENDPOINT_001", "AUTH_002")
                return outcome.events if self.found else None
            self._show(outcome.value)
        return None

    def _show(self, detail: Detail) -> None:
        doc, traffic = detail.doc, detail.doc["traffic"] or {}
        self.found, self.name, self.description = True, doc["name"], doc["description"] or ""
        self.status, self.model_id, self.model_name = doc["status"], doc["model_id"] or "", detail.model_name
        self.version = doc["version"] or ""
        self.deployed = view.deployed_text(doc["version"], doc["follow_stage"])
        self.traffic = view.traffic_text(traffic)
        self.shares = [Share(s["version"], view.ROLE_WORDS.get(s["role"], s["role"]),
                             "copy of every request" if s["role"] == "shadow" else f"{s['percent']:g} %")
                       for s in detail.shares]
        self.has_candidate = bool(traffic.get("candidateVersion"))
        self.candidate = traffic.get("candidateVersion") or self.candidate
        if traffic.get("mode") == "canary":
            self.canary_percent = int(round(float(traffic.get("candidatePercent", 0))))
        self.replicas, self.min_replicas = str(doc["replicas"]), str(doc["min_replicas"])
        self.max_replicas = str(doc["max_replicas"])
        policy = doc["autoscaling"] or {}
        self.auto_scaling = bool(policy.get("autoScaling"))
        self.target_utilization = str(policy.get("targetUtilization", 70))
        self.facts = [
            {"label": "Model", "value": detail.model_name or fmt.NONE},
            {"label": "Deployed", "value": self.deployed},
            {"label": "Traffic", "value": self.traffic},
            {"label": "Replicas", "value": f"{doc['replicas']} (from {doc['min_replicas']} to {doc['max_replicas']})"
                                          + (f", autoscaling at {policy.get('targetUtilization', 70)} % busy"
                                             if policy.get("autoScaling") else ", autoscaling off")},
            {"label": "Rate limit", "value": f"{fmt.count(doc['rate_limit_per_minute'])} requests a minute per key "
                                            f"(bursts of {fmt.count(doc['burst'])})"},
            {"label": "Timeout", "value": f"{fmt.count(doc['timeout_ms'])} ms"},
            {"label": "Last deployed", "value": fmt.moment(doc["deployed_at"]) if doc["deployed_at"] else "Never"},
        ]
        self.may_write, self.may_invoke = detail.keys is not None, detail.may_invoke
        self._deployable = detail.deployable or []
        self.model_options = {m["model_id"]: m["name"] for m in self._deployable}
        if self.candidate not in self.candidate_options:
            self.candidate = next(iter(self.candidate_options), "")
        self._show_form(detail.form, doc["examples"] or [])
        self._show_metrics(detail.metrics)
        self.drift_rows = view.drift_rows(detail.drift) if detail.drift and detail.drift["available"] else []
        self.drift_note = view.drift_note(detail.drift)
        self.logs = detail.logs
        self.keys = detail.keys or []

    def _show_form(self, form: dict[str, Any] | None, examples: list[dict[str, Any]]) -> None:
        self._examples = examples
        self.examples = [self._example_name(i, e) for i, e in enumerate(examples)]
        if self.example not in self.examples:
            self.example = self.examples[0] if self.examples else ""
        self.task = form["task"] if form else ""
        chosen = self._chosen_example()
        self.columns = [FormColumn(c["name"], c["kind"], c["options"], self._text(chosen.get(c["name"])))
                        for c in (form["columns"] if form else [])]
        self.form_key += 1

    @staticmethod
    def _example_name(index: int, example: dict[str, Any]) -> str:
        expected = example.get("expected") or {}
        said = expected.get("label", expected.get("value"))
        return f"Example {index + 1}" + (f" (expected: {said})" if said is not None else "")

    def _chosen_example(self) -> dict[str, Any]:
        if self.example in self.examples:
            return self._examples[self.examples.index(self.example)].get("input") or {}
        return {}

    @staticmethod
    def _text(value: Any) -> str:
        return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    def _show_metrics(self, figures: dict[str, Any]) -> None:
        latency = figures["latency_ms"]
        self.p50, self.p95, self.p99 = view.ms(latency["p50"]), view.ms(latency["p95"]), view.ms(latency["p99"])
        self.requests = fmt.count(figures["requests"])
        self.error_rate = view.error_rate_text(figures)
        self.has_traffic = figures["requests"] > 0
        self.latency_chart = view.latency_figure(figures["series"])
        self.requests_chart = view.requests_figure(figures["series"])

    # --- try it ---------------------------------------------------------------------------------------

    @rx.event
    def pick_example(self, name: str):
        if name not in self.examples:
            return
        self.example = name
        chosen = self._chosen_example()
        self.columns = [FormColumn(c.name, c.kind, c.options, self._text(chosen.get(c.name))) for c in self.columns]
        self.form_key += 1

    @rx.event(background=True)
    async def predict(self, form: dict[str, Any]):
        async with self:
            if self.busy:
                return None
            self.busy = True
            endpoint_id, instance = self.endpoint_id, typed(self.columns, form)
        outcome = await invoke(self, try_it(endpoint_id, instance))
        async with self:
            self.busy = False
            if not outcome.ok:
                return outcome.events
            answer, explained = outcome.value
            self._show_answer(answer, explained)
        return await self._refresh()

    def _show_answer(self, answer: dict[str, Any], explained: dict[str, Any] | None) -> None:
        first = answer["predictions"][0]
        role = "" if answer["role"] == "primary" else f", the {answer['role']}"
        self.answered_by = f"Answered by version {answer['version']}{role} in {view.ms(answer['latency_ms'])}"
        if "label" in first:
            self.predicted = str(first["label"])
            ranked = sorted((first.get("probabilities") or {}).items(), key=lambda kv: -kv[1])
            self.probabilities = [Probability(str(k), fmt.percent(v), f"{max(v, 0) * 100:.1f}", str(k) == self.predicted)
                                  for k, v in ranked]
        else:
            self.predicted, self.probabilities = fmt.number(first.get("value")), []
        if explained:
            detail = explained["explanations"][0]
            self.explanation = view.explanation_figure(detail["attributions"], str(detail["target"]))
            self.has_explanation = True
            self.explanation_note = (f"Integrated Gradients on version {explained['version']}: how much each input "
                                     f"moved the model's score for “{detail['target']}” away from a baseline row "
                                     f"of training means.")
        else:
            self.has_explanation = False
            self.explanation_note = "This model family has no per-input explanation."

    # --- controls -------------------------------------------------------------------------------------

    async def _act(self, action: str, data: dict[str, Any] | None = None, done: str = ""):
        return (await self._run(action, data, done))[1]

    async def _run(self, action: str, data: dict[str, Any] | None, done: str) -> tuple[bool, list | None]:
        """Run one control as the signed-in user, then re-read the page: (succeeded, events to return)."""
        async with self:
            if self.busy:
                return False, None
            self.busy, endpoint_id = True, self.endpoint_id
        outcome = await invoke(self, act(endpoint_id, action, data), write=True)
        async with self:
            self.busy = False
        if not outcome.ok:
            return False, outcome.events
        events = await self._refresh()
        return True, [rx.toast.success(done), *(events or [])] if done else events

    @rx.event
    def open_deploy(self, value: bool = True):
        self.deploy_open = value
        if value:
            self.deploy_model = self.model_id if self.model_id in self.model_options else next(iter(self.model_options), "")
            self.deploy_choice = next(iter(self.deploy_options), "")

    @rx.event
    def pick_deploy_model(self, model_id: str):
        self.deploy_model = model_id
        self.deploy_choice = next(iter(version_options(self._deployable, model_id)), "")

    @rx.event
    def pick_deploy_choice(self, value: str):
        self.deploy_choice = value

    @rx.event(background=True)
    async def deploy(self, _form: dict[str, Any]):
        async with self:
            data = deploy_request(self.deploy_model, self.deploy_choice)
        ok, events = await self._run("deploy", data, "Deployed")
        if ok:
            async with self:
                self.deploy_open = False
        return events

    @rx.event(background=True)
    async def undeploy(self):
        return await self._act("undeploy", None, "Undeployed: predictions answer “not deployed” until the next deploy")

    @rx.event(background=True)
    async def scale(self, form: dict[str, Any]):
        def number(key: str, default: int) -> int:
            text = str(form.get(key, "")).strip()
            return int(text) if text.isdigit() else default

        data = {"replicas": number("replicas", 1), "minReplicas": number("minReplicas", 1),
                "maxReplicas": number("maxReplicas", 4), "autoScaling": bool(form.get("autoScaling")),
                "targetUtilization": number("targetUtilization", 70)}
        return await self._act("scale", data, "Scaling saved")

    @rx.event
    def set_candidate(self, version: str):
        self.candidate = version

    @rx.event
    def set_percent(self, value: list[float] | str):
        raw = value[0] if isinstance(value, list) and value else value
        try:
            self.canary_percent = max(0, min(100, int(round(float(raw)))))
        except (TypeError, ValueError):
            return

    @rx.event(background=True)
    async def apply_canary(self):
        async with self:
            if not self.candidate:
                return toast_error("Choose the second version first")
            data = {"mode": "canary", "candidateVersion": self.candidate, "candidatePercent": self.canary_percent}
            words = f"Canary: {self.canary_percent} % of requests go to version {self.candidate}"
        return await self._act("traffic", data, words)

    @rx.event(background=True)
    async def apply_shadow(self):
        async with self:
            if not self.candidate:
                return toast_error("Choose the second version first")
            data = {"mode": "shadow", "candidateVersion": self.candidate}
            words = f"Shadow: version {self.candidate} gets a copy of every request (logged, not returned)"
        return await self._act("traffic", data, words)

    @rx.event(background=True)
    async def single(self):
        return await self._act("traffic", {"mode": "single"}, "All traffic goes to the primary version")

    @rx.event(background=True)
    async def switch(self):
        return await self._act("switch", None, "Switched: the candidate now answers; switch again to go back")

    # --- keys -----------------------------------------------------------------------------------------

    @rx.event
    def open_key(self, value: bool = True):
        self.key_open = value
        if value:
            self.key_created = False

    @rx.event(background=True)
    async def create_key(self, form: dict[str, Any]):
        name = str(form.get("keyName", "")).strip()[:100] or "Model key"
        days = str(form.get("expiresInDays", "")).strip()
        data = {"name": name, "expiresInDays": int(days) if days.isdigit() and int(days) > 0 else None}
        async with self:
            if self.busy:
                return None
            self.busy, endpoint_id = True, self.endpoint_id
        outcome = await invoke(self, act(endpoint_id, "create_key", data), write=True)
        async with self:
            self.busy = False
            if not outcome.ok:
                return outcome.events
            self.key_created = True
        return [show_once(outcome.value), *(await self._refresh() or [])]

    @rx.event(background=True)
    async def revoke_key(self, key_id: str):
        async with self:
            known = any(k["id"] == key_id for k in self.keys)
        if not known:
            return None
        return await self._act("revoke_key", {"keyId": key_id}, "Key revoked: it stops working on its next request")


__all__ = ["EndpointState", "TABS"]
