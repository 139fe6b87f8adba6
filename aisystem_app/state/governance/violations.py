"""The Violations console: what policies found (filtered by status, policy, entity type and severity in the
URL), and the admin's decisions — waive with a reason (the entity passes that policy revision from then on) or
resolve. A thin adapter over `backend.governance.service`."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.governance import entities
from backend.governance import service as governance
from backend.governance.models import SEVERITIES, VIOLATION_STATUSES, Violation

ALL = "all"
FILTER_KEYS = ("status", "policy", "entity_type", "severity")
URL_KEYS = (*FILTER_KEYS, *PAGE_KEYS)
TYPE_LABELS = {n: entities.entity_type(n).label for n in entities.ENTITY_TYPE_NAMES}
DECISIONS = {"waive": "Waive", "resolve": "Resolve"}


def violation_row(v: Violation) -> dict[str, str]:
    """One violation as the table shows it (text only)."""
    return {
        "id": v.id, "time": fmt.moment(v.last_seen_at), "ago": fmt.ago(v.last_seen_at),
        "sort_time": v.last_seen_at.isoformat(), "policy": v.policy_name, "policy_id": v.policy_id,
        "entity": f"{TYPE_LABELS.get(v.entity_type, fmt.label(v.entity_type))}: {v.entity_name or v.entity_id}",
        "rule": v.rule, "condition": v.condition, "reason": v.reason,
        "action": "Applied to existing entities" if v.action == "policy.enforce" else fmt.label(v.action.replace(".", "_")),
        "effect": "Blocked" if v.blocked else "Recorded", "severity": fmt.label(v.severity),
        "status": fmt.label(v.status), "status_key": v.status,
        "occurrences": fmt.plural(v.occurrences, "time"),
        "decision": f"{fmt.label(v.status)} {fmt.day(v.decided_at)}: {v.decision_note}" if v.decided_at else "",
    }


def read_page(cursor: str | None, filters: dict[str, str]):
    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None, bool]:
        rows, next_cursor = governance.list_violations(
            session=session, actor=principal, params=PageParams(limit=PAGE_SIZE, cursor=cursor),
            status=filters.get("status") or None, policy_id=filters.get("policy") or None,
            entity_type=filters.get("entity_type") or None, severity=filters.get("severity") or None)
        return [violation_row(r) for r in rows], next_cursor, principal.can(governance.WAIVE)

    return work


class ViolationsState(TableMixin, rx.State):
    """Violations: admins see and decide all of them; others see the ones their actions caused."""

    allowed: bool = True
    can_decide: bool = False
    filters: dict[str, str] = {}
    deciding: str = ""  # the violation id in the dialog
    decision: str = "waive"
    decision_reason: str = ""
    decision_error: str = ""
    decision_subject: str = ""
    busy: bool = False

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(URL_KEYS)
            self.filters = {k: params.get(k, "") for k in FILTER_KEYS}
            if self.filters["status"] not in VIOLATION_STATUSES:
                self.filters["status"] = ALL
            if self.filters["entity_type"] not in TYPE_LABELS:
                self.filters["entity_type"] = ALL
            if self.filters["severity"] not in SEVERITIES:
                self.filters["severity"] = ALL
            self._open_url_page(params)
        return await self._fetch()

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor = self._cursor
            filters = {k: v for k, v in self.filters.items() if v and v != ALL}
        outcome = await invoke(self, read_page(cursor, filters))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            rows, next_cursor, can_decide = outcome.value if outcome.ok else ([], None, False)
            self.can_decide = can_decide
            self._show_page(rows, next_cursor)
        return outcome.events if allowed else None

    @rx.event
    def apply_filters(self, form: dict):
        chosen = {k: str(form.get(k) or "")[:64] for k in FILTER_KEYS}
        for key, allowed in (("status", VIOLATION_STATUSES), ("entity_type", TYPE_LABELS), ("severity", SEVERITIES)):
            if chosen[key] not in allowed:
                chosen[key] = ""
        return self._go({**chosen, "policy": self.filters.get("policy", ""), "page": "", "after": ""})

    @rx.event
    def clear_policy(self):
        return self._go({"policy": "", "page": "", "after": ""})

    @rx.event
    def ask(self, violation_id: str, decision: str):
        """Open the dialog that waives or resolves one violation (with a reason)."""
        row = next((r for r in self.rows if r["id"] == violation_id), None)
        if row is None or decision not in DECISIONS:
            return
        self.deciding, self.decision, self.decision_reason, self.decision_error = violation_id, decision, "", ""
        self.decision_subject = f"{row['policy']} — {row['rule']} — {row['entity']}"

    @rx.event
    def set_reason(self, value: str):
        self.decision_reason = str(value)[:1000]
        self.decision_error = ""

    @rx.event
    def cancel(self):
        self.deciding = ""

    @rx.event(background=True)
    async def confirm(self):
        async with self:
            if self.busy or not self.deciding:
                return None
            reason, violation_id, decision = self.decision_reason.strip(), self.deciding, self.decision
            if len(reason) < 3:
                self.decision_error = "Say why, in a few words"
                return None
            self.busy = True
        fn = governance.waive_violation if decision == "waive" else governance.resolve_violation
        outcome = await invoke(self, lambda session, principal: fn(session=session, actor=principal,
                                                                   violation_id=violation_id, reason=reason),
                               write=True)
        async with self:
            self.busy = False
            if outcome.ok:
                self.deciding = ""
        if not outcome.ok:
            return outcome.events
        done = ("Waived: the entity passes this policy revision from now on" if decision == "waive"
                else "Resolved")
        events = await self._fetch()
        return [rx.toast.success(done), *(events or [])]
