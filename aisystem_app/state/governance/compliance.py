"""The compliance console: a scorecard per framework (gauge, passing and failing controls), the chosen
framework's controls failing first with their evidence, the assessment history, attestations and
certification requests. Thin adapters over `backend.compliance.service`."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.gauges import gauge_figure
from aisystem_app.components.plots import CARD_LAYOUT
from aisystem_app.state.session import invoke
from aisystem_app.state.url import UrlStateMixin
from backend.auth.principal import Principal
from backend.compliance import frameworks as catalogue
from backend.compliance import service
from backend.compliance.models import Assessment
from backend.compliance.schemas import DISCLAIMER, AssessRequest, CertifyRequest, DecisionRequest
from backend.core.pagination import PageParams

URL_KEYS = ("framework",)
HISTORY = 50
STATUS_WORDS = {"passed": "Passed", "failed": "Failed", "attested": "Attested", "needs_attestation": "Needs attestation"}
STATUS_COLORS = {"passed": "green", "failed": "red", "attested": "blue", "needs_attestation": "orange",
                 "pending": "orange", "approved": "green", "rejected": "red"}


def control_row(control: dict[str, Any]) -> dict[str, str]:
    """One control's result as the table shows it: status words, and its evidence in a sentence."""
    if control["automated"]:
        evidence = " ".join(f"{c['title']}: {c['summary']}." for c in control["checks"])
        items = [i for c in control["checks"] if not c["passed"] for i in c["items"]]
        detail = "; ".join(", ".join(f"{fmt.label(k)} {v}" for k, v in i.items()) for i in items[:5])
    elif control["attestation"]:
        a = control["attestation"]
        evidence = f"Attested by {a['attestedByName']} on {fmt.day(a['attestedAt'])}: {a['statement']}"
        detail = f"Evidence file {a['evidenceName']} (sha256 {a['evidenceSha256'][:12]}…)" if a.get("evidenceSha256") else ""
    else:
        evidence, detail = "Nobody has attested this control yet.", control.get("guidance", "")
    return {"id": control["id"], "title": control["title"], "status": control["status"],
            "status_label": STATUS_WORDS[control["status"]], "color": STATUS_COLORS[control["status"]],
            "kind": "Automated" if control["automated"] else "Manual", "manual": "" if control["automated"] else "1",
            "evidence": evidence, "detail": detail}


def history_figure(rows: list[Assessment]) -> go.Figure:
    """Each framework's score over the assessments, oldest to newest."""
    ordered = sorted(rows, key=lambda r: r.created_at)
    traces = []
    for framework in catalogue.FRAMEWORKS:
        points = [(r.created_at, r.results[framework.id]["score"]) for r in ordered if framework.id in r.results]
        if points:
            traces.append(go.Scatter(name=framework.name, x=[p[0] for p in points], y=[p[1] for p in points],
                                     mode="lines+markers",
                                     hovertemplate=f"{html.escape(framework.name)}: %{{y:.1f}}%<extra></extra>"))
    figure = go.Figure(traces)
    figure.update_layout(**{**CARD_LAYOUT, "hovermode": "x unified",
                            "height": 340, "margin": {"l": 56, "r": 16, "t": 36, "b": 110},
                            "title": {"text": "Assessment history", "font": {"size": 13}},
                            "legend": {"orientation": "h", "y": -0.45, "yanchor": "top"}})
    figure.update_xaxes(title_text="Assessed at (UTC)")
    figure.update_yaxes(title_text="Controls passing (%)", range=[0, 100])
    return figure


@dataclass
class View:
    cards: list[dict[str, Any]]
    controls: list[dict[str, str]]
    history: go.Figure
    assessments: int
    certifications: list[dict[str, str]]
    attestations: list[dict[str, str]]
    can_assess: bool
    can_attest: bool
    can_certify: bool
    can_approve: bool


def read_view(framework: str):
    def work(session: Session, principal: Principal) -> View:
        status = service.status(session=session, actor=principal)
        rows, _ = service.list_assessments(session=session, actor=principal, params=PageParams(limit=HISTORY))
        latest = {s.framework: s for s in status.frameworks}
        by_id = {r.id: r for r in rows}
        cards = []
        for f in catalogue.FRAMEWORKS:
            s = latest[f.id]
            score = s.latest.score if s.latest else None
            cards.append({"id": f.id, "name": f.name, "gauge": gauge_figure(f.name, score),
                          "passed": str(s.latest.passed) if s.latest else fmt.NONE,
                          "failed": str(s.latest.failed) if s.latest else fmt.NONE,
                          "when": fmt.moment(s.latest.assessed_at) if s.latest else "Never assessed",
                          "controls": f"{s.automated} automated, {s.manual} manual",
                          "certification": fmt.label(s.certification) if s.certification else "",
                          "cert_color": STATUS_COLORS.get(s.certification or "", "gray")})
        chosen = latest[framework].latest
        assessment = by_id.get(chosen.assessment_id) if chosen else None
        if chosen and assessment is None:
            assessment = service.get_assessment(session=session, actor=principal, assessment_id=chosen.assessment_id)
        controls = [control_row(c) for c in assessment.results[framework]["controls"]] if assessment else []
        certs, _ = service.list_certifications(session=session, actor=principal, params=PageParams(limit=20))
        attestations = service.list_attestations(session=session, actor=principal, framework=framework)
        return View(
            cards=cards, controls=controls, history=history_figure(rows), assessments=len(rows),
            certifications=[{"id": c.id, "framework": catalogue.BY_ID[c.framework].name, "score": f"{c.score:.1f}%",
                             "status": c.status, "status_label": fmt.label(c.status),
                             "color": STATUS_COLORS[c.status], "requested": f"{c.requested_by_name}, {fmt.moment(c.requested_at)}",
                             "note": c.note or "", "decision": (f"{c.decided_by_name}: {c.decision_reason}"
                                                                if c.decided_at else "")} for c in certs],
            attestations=[{"control": a.control_id, "statement": a.statement, "by": a.attested_by_name,
                           "when": fmt.moment(a.attested_at), "evidence": a.evidence_name or "Text only"}
                          for a in attestations[:20]],
            can_assess=principal.can(service.ASSESS), can_attest=principal.can(service.ATTEST),
            can_certify=principal.can(service.CERTIFY), can_approve=principal.can(service.APPROVE))

    return work


class ComplianceState(UrlStateMixin, rx.State):
    """Holders of `compliance:read` see the scorecards; ml_ops assess, attest and ask for sign-off; admins decide."""

    disclaimer: str = DISCLAIMER
    allowed: bool = True
    loading: bool = False
    framework: str = "GDPR"
    cards: list[dict[str, Any]] = []
    controls: list[dict[str, str]] = []
    history: go.Figure = go.Figure()
    assessments: int = 0
    certifications: list[dict[str, str]] = []
    attestations: list[dict[str, str]] = []
    can_assess: bool = False
    can_attest: bool = False
    can_certify: bool = False
    can_approve: bool = False
    busy: bool = False
    attest_control: str = ""
    message: str = ""

    @rx.var
    def framework_name(self) -> str:
        f = catalogue.BY_ID.get(self.framework)
        return f.name if f else self.framework

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(URL_KEYS)
            self.framework = params.get("framework") if params.get("framework") in catalogue.BY_ID else "GDPR"
            self.loading, self.message = True, ""
        return await self._refresh()

    async def _refresh(self):
        async with self:
            framework = self.framework
        outcome = await invoke(self, read_view(framework))
        async with self:
            self.loading = False
            self.allowed = outcome.code != "AUTH_002"
            if outcome.ok:
                v = outcome.value
                self.cards, self.controls, self.history, self.assessments = v.cards, v.controls, v.history, v.assessments
                self.certifications, self.attestations = v.certifications, v.attestations
                self.can_assess, self.can_attest = v.can_assess, v.can_attest
                self.can_certify, self.can_approve = v.can_certify, v.can_approve
        return outcome.events if self.allowed else None

    @rx.event
    def choose(self, framework: str):
        """Show another framework's controls."""
        return self._go({"framework": framework if framework in catalogue.BY_ID else "GDPR"})

    async def _write(self, work, done: str):  # noqa: ANN001
        async with self:
            if self.busy:
                return None
            self.busy = True
        outcome = await invoke(self, work, write=True)
        async with self:
            self.busy = False
            if outcome.ok:
                self.message = done
        if not outcome.ok:
            return outcome.events
        return await self._refresh()

    @rx.event(background=True)
    async def assess(self):
        """Assess every framework now and store the report."""
        return await self._write(lambda session, principal: service.assess(
            session=session, actor=principal, request=AssessRequest()), "Assessment stored.")

    @rx.event
    def open_attest(self, control_id: str):
        self.attest_control = control_id

    @rx.event
    def close_attest(self):
        self.attest_control = ""

    @rx.event(background=True)
    async def attest(self, form: dict):
        """Attest the chosen manual control with a statement (files go through the API)."""
        async with self:
            framework, control = self.framework, self.attest_control
            self.attest_control = ""
        statement = str(form.get("statement") or "")[:5000]
        return await self._write(lambda session, principal: service.attest(
            session=session, actor=principal, framework=framework, control_id=control, statement=statement),
            f"{control} attested; it counts from the next assessment.")

    @rx.event(background=True)
    async def request_signoff(self):
        """Ask an admin to sign off the shown framework's readiness, with its newest assessment."""
        async with self:
            framework = self.framework
        return await self._write(lambda session, principal: service.request_certification(
            session=session, actor=principal, data=CertifyRequest(framework=framework)),
            "Sign-off requested; an admin will approve or reject it.")

    @rx.event(background=True)
    async def decide(self, certification_id: str, decision: str):
        """An admin approves or rejects a pending request."""
        reason = "Approved in the compliance console" if decision == "approve" else "Rejected in the compliance console"
        return await self._write(lambda session, principal: service.decide(
            session=session, actor=principal, certification_id=certification_id,
            data=DecisionRequest(decision=decision, reason=reason)), f"Request {decision}d.")
