"""The Policies console: the list, the editor (validation messages at their line and column) and the "test
against entity" panel. A thin adapter over `backend.governance.service`; the service authorizes."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.auth.principal import Principal
from backend.core.actions import ACTIONS
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.governance import entities
from backend.governance import service as governance
from backend.governance.models import ENFORCEMENT_MODES, POLICY_KINDS, SEVERITIES, Policy

FILTER_KEYS = ("q", "kind")
URL_KEYS = ("policy", *FILTER_KEYS, *PAGE_KEYS)
NEW = "new"
ALL = "all"
KIND_LABELS = {k: fmt.label(k) for k in POLICY_KINDS}
SEVERITY_LABELS = {s: fmt.label(s) for s in SEVERITIES}
ENFORCEMENT_LABELS = {"enforce": "Enforce (blocks the action)", "audit": "Audit (records a violation)"}
TYPE_LABELS = {n: entities.entity_type(n).label for n in entities.ENTITY_TYPE_NAMES}
ACTION_LABELS = {a: fmt.label(a.replace(".", "_")) for a in ACTIONS}
STAGES = ("production", "staging", "archived", "none")
NO_ACTION = "none"
BLANK_RULE = {"name": "", "expression": "", "message": "", "error": "", "error_line": "", "caret": ""}


def policy_row(policy: Policy, open_violations: int) -> dict[str, str]:
    """One policy as the table shows it (text only)."""
    return {
        "id": policy.id, "name": policy.name, "kind": KIND_LABELS.get(policy.kind, policy.kind),
        "targets": ", ".join(TYPE_LABELS.get(t, t) for t in policy.target_types),
        "enforcement": "Enforce" if policy.enforcement == "enforce" else "Audit",
        "enabled": "On" if policy.enabled else "Off", "severity": SEVERITY_LABELS.get(policy.severity, policy.severity),
        "open": fmt.count(open_violations), "open_sort": f"{open_violations:08d}",
        "updated": fmt.day(policy.updated_at),
    }


def read_page(cursor: str | None, filters: dict[str, str]):
    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None]:
        kind = filters.get("kind") if filters.get("kind") in POLICY_KINDS else None
        rows, next_cursor = governance.list_policies(session=session, actor=principal, q=filters.get("q") or None,
                                                     kind=kind, params=PageParams(limit=PAGE_SIZE, cursor=cursor))
        counts = governance.open_violation_counts(session, [r.id for r in rows])
        return [policy_row(r, counts.get(r.id, 0)) for r in rows], next_cursor

    return work


def caret_for(expression: str, line: int, column: int) -> tuple[str, str]:
    """(the expression's line the problem is on, a caret under its column), for a monospace display."""
    lines = expression.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return text, " " * max(column - 1, 0) + "^"


class PoliciesState(TableMixin, rx.State):
    """Policies for every signed-in user to read; admins edit, enforce and delete them."""

    allowed: bool = True
    filters: dict[str, str] = {}
    editing: str = ""  # "" (no editor), NEW, or the policy id
    can_write: bool = False
    # The editor's form.
    name: str = ""
    description: str = ""
    kind: str = "model_release"
    severity: str = "medium"
    enforcement: str = "audit"
    enabled: bool = True
    targets: list[str] = []
    actions: list[str] = []
    applies_when: str = ""
    when_error: str = ""
    when_line: str = ""
    when_caret: str = ""
    rules: list[dict[str, str]] = []
    revision: str = ""
    problems: list[str] = []
    checked: bool = False
    saving: bool = False
    # The "test against entity" panel.
    test_type: str = ""
    test_entity: str = ""
    test_action: str = NO_ACTION
    test_stage: str = "production"
    test_as: str = ""
    choices: list[dict[str, str]] = []
    testing: bool = False
    test_summary: str = ""
    test_verdict: str = ""  # compliant | failing | not_applicable | waived
    test_rules: list[dict[str, str]] = []
    test_context: str = ""

    @rx.var
    def is_new(self) -> bool:
        return self.editing == NEW

    @rx.var
    def target_options(self) -> list[dict[str, str]]:
        return [{"value": k, "label": v, "on": "1" if k in self.targets else ""} for k, v in TYPE_LABELS.items()]

    @rx.var
    def action_options(self) -> list[dict[str, str]]:
        """The governed actions on the chosen targets."""
        return [{"value": a, "label": ACTION_LABELS[a], "on": "1" if a in self.actions else ""}
                for a, t in ACTIONS.items() if t in self.targets]

    @rx.var
    def test_type_options(self) -> list[dict[str, str]]:
        return [{"value": t, "label": TYPE_LABELS[t]} for t in self.targets if t in TYPE_LABELS]

    @rx.var
    def test_action_options(self) -> list[dict[str, str]]:
        return [{"value": NO_ACTION, "label": "No action (the entity as it is)"}] + [
            {"value": a, "label": ACTION_LABELS[a]} for a, t in ACTIONS.items() if t == self.test_type]

    # --- the list --------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def load(self):
        """The list (search and kind from the URL) and, with `?policy=`, the editor."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.filters = {k: params.get(k, "") for k in FILTER_KEYS}
            if self.filters["kind"] not in POLICY_KINDS:
                self.filters["kind"] = ALL
            self._open_url_page(params)
            target = params.get("policy", "")
            reopen = target != self.editing
        events = await self._fetch()
        if reopen or target:
            events = [*(events or []), *(await self._open_editor(target, reopen) or [])]
            async with self:
                need_choices = bool(self.editing) and not self.choices
            if need_choices:
                events.append(PoliciesState.load_choices)
        return events or None

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor, filters = self._cursor, dict(self.filters)
        outcome = await invoke(self, read_page(cursor, filters))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            self._show_page(*(outcome.value if outcome.ok else ([], None)))
        return outcome.events if allowed else None

    @rx.event
    def search(self, form: dict):
        kind = str(form.get("kind") or "")
        return self._go({"q": str(form.get("q") or "")[:120], "kind": kind if kind in POLICY_KINDS else "",
                         "page": "", "after": ""})

    @rx.event
    def open_policy(self, policy_id: str):
        return self._go({"policy": policy_id[:64]})

    @rx.event
    def new_policy(self):
        return self._go({"policy": NEW})

    @rx.event
    def close_editor(self):
        return self._go({"policy": ""})

    # --- the editor --------------------------------------------------------------------------------------------

    async def _open_editor(self, target: str, reset: bool):
        if not target:
            async with self:
                self.editing = ""
            return None

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            can_write = principal.can(governance.WRITE)
            if target == NEW:
                return {"policy": None, "can_write": can_write}
            return {"policy": governance.get_policy(session=session, actor=principal, policy_id=target),
                    "can_write": can_write}

        outcome = await invoke(self, work)
        async with self:
            if not outcome.ok:
                self.editing = ""
                return outcome.events
            self.can_write = outcome.value["can_write"]
            if reset or self.editing != target:
                self._fill(outcome.value["policy"])
            self.editing = target
        return None

    def _fill(self, policy: Policy | None) -> None:
        self.problems, self.checked, self.when_error, self.when_line, self.when_caret = [], False, "", "", ""
        self.test_rules, self.test_summary, self.test_verdict, self.test_context = [], "", "", ""
        self.choices, self.test_entity = [], ""
        if policy is None:
            self.name, self.description, self.kind, self.severity = "", "", "model_release", "medium"
            self.enforcement, self.enabled, self.targets, self.actions = "audit", True, ["model_version"], []
            self.applies_when, self.revision = "", ""
            self.rules = [dict(BLANK_RULE)]
        else:
            self.name, self.description, self.kind = policy.name, policy.description, policy.kind
            self.severity, self.enforcement, self.enabled = policy.severity, policy.enforcement, policy.enabled
            self.targets, self.actions = list(policy.target_types), list(policy.actions)
            self.applies_when, self.revision = policy.applies_when or "", str(policy.revision)
            self.rules = [{**BLANK_RULE, "name": r["name"], "expression": r["expression"],
                           "message": r.get("message") or ""} for r in policy.rules]
        self.test_type = self.targets[0] if self.targets else ""
        self.test_action = NO_ACTION

    @rx.event
    def set_text(self, field: str, value: str):
        """One text field of the form (name, description, kind, severity, enforcement, appliesWhen)."""
        limits = {"name": 120, "description": 2000, "applies_when": 2000}
        choices = {"kind": POLICY_KINDS, "severity": SEVERITIES, "enforcement": ENFORCEMENT_MODES}
        if field in limits:
            setattr(self, field, str(value)[:limits[field]])
        elif field in choices and value in choices[field]:
            setattr(self, field, value)
        self.checked = False

    @rx.event
    def set_enabled(self, value: bool):
        self.enabled = bool(value)

    @rx.event
    def toggle_target(self, value: str):
        if value not in TYPE_LABELS:
            return
        self.targets = [t for t in self.targets if t != value] if value in self.targets else [*self.targets, value]
        self.actions = [a for a in self.actions if ACTIONS[a] in self.targets]
        if self.test_type not in self.targets:
            self.test_type, self.test_action, self.test_entity, self.choices = "", NO_ACTION, "", []
        self.checked = False

    @rx.event
    def toggle_action(self, value: str):
        if value not in ACTIONS:
            return
        self.actions = [a for a in self.actions if a != value] if value in self.actions else [*self.actions, value]

    @rx.event
    def set_rule(self, index: int, field: str, value: str):
        limits = {"name": 120, "expression": 2000, "message": 500}
        if field not in limits or not 0 <= index < len(self.rules):
            return
        rules = [dict(r) for r in self.rules]
        rules[index][field] = str(value)[:limits[field]]
        self.rules = rules
        self.checked = False

    @rx.event
    def add_rule(self):
        if len(self.rules) < 30:
            self.rules = [*self.rules, dict(BLANK_RULE)]

    @rx.event
    def remove_rule(self, index: int):
        if len(self.rules) > 1 and 0 <= index < len(self.rules):
            self.rules = [r for i, r in enumerate(self.rules) if i != index]

    def _draft(self) -> dict[str, Any]:
        return {"name": self.name.strip() or "Untitled policy", "description": self.description, "kind": self.kind,
                "targetTypes": list(self.targets) or ["model_version"], "actions": list(self.actions),
                "severity": self.severity, "enforcement": self.enforcement, "enabled": self.enabled,
                "appliesWhen": self.applies_when.strip() or None,
                "rules": [{"name": r["name"].strip() or f"Rule {i + 1}", "expression": r["expression"],
                           "message": r["message"].strip() or None} for i, r in enumerate(self.rules)]}

    def _show_problems(self, problems: list[dict[str, Any]], shapes: list[str]) -> None:
        """Put each problem under the expression it is in, with a caret at its column."""
        rules = [{**r, "error": "", "error_line": "", "caret": ""} for r in self.rules]
        self.when_error = self.when_line = self.when_caret = ""
        for p in problems:
            where = f"Line {p['line']}, column {p['column']}: {p['message']}"
            if p["where"] == "appliesWhen":
                if not self.when_error:
                    self.when_error = where
                    self.when_line, self.when_caret = caret_for(self.applies_when, p["line"], p["column"])
            elif p["where"].startswith("rules["):
                index = int(p["where"][6:-1])
                if 0 <= index < len(rules) and not rules[index]["error"]:
                    line, caret = caret_for(rules[index]["expression"], p["line"], p["column"])
                    rules[index].update(error=where, error_line=line, caret=caret)
        self.rules = rules
        self.problems = shapes + [f"{p['where']}{' (' + p['rule'] + ')' if p.get('rule') else ''}: line "
                                  f"{p['line']}, column {p['column']}: {p['message']}" for p in problems]
        self.checked = True

    def _shape_problems(self) -> list[str]:
        out = []
        if not self.name.strip():
            out.append("Give the policy a name")
        if not self.targets:
            out.append("Choose at least one entity type")
        if not any(r["expression"].strip() for r in self.rules):
            out.append("Write at least one rule")
        return out

    @rx.event(background=True)
    async def validate(self):
        """Compile every expression and check its names; the messages go under each expression."""
        async with self:
            draft, shapes = self._draft(), self._shape_problems()

        def work(session: Session, principal: Principal) -> list[dict[str, Any]]:
            return governance.validate_draft(actor=principal, target_types=draft["targetTypes"],
                                             applies_when=draft["appliesWhen"], rule_list=draft["rules"])

        outcome = await invoke(self, work)
        if not outcome.ok:
            return outcome.events
        async with self:
            self._show_problems(outcome.value, shapes)
            clean = not self.problems
        return rx.toast.success("The policy is valid") if clean else None

    @rx.event(background=True)
    async def save(self):
        """Validate, then create or update the policy (admins); problems stay on screen, nothing is saved."""
        async with self:
            if self.saving:
                return None
            self.saving = True
            draft, shapes, editing = self._draft(), self._shape_problems(), self.editing

        def work(session: Session, principal: Principal) -> tuple[str, list[dict[str, Any]], Any]:
            problems = governance.validate_draft(actor=principal, target_types=draft["targetTypes"],
                                                 applies_when=draft["appliesWhen"], rule_list=draft["rules"])
            if problems or shapes:
                return "invalid", problems, None
            try:
                if editing == NEW:
                    policy = governance.create_policy(session=session, actor=principal, data=draft)
                else:
                    policy = governance.update_policy(session=session, actor=principal, policy_id=editing, data=draft)
            except AISystemError as error:
                if error.code == "GOV_002":
                    return "invalid", list(error.details.get("errors", [])), None
                raise
            return "saved", [], (policy.id, policy.revision)

        outcome = await invoke(self, work, write=True)
        async with self:
            self.saving = False
            if not outcome.ok:
                return outcome.events
            status, problems, saved = outcome.value
            self._show_problems(problems, shapes)
            if status != "saved":
                return rx.toast.error("The policy was not saved: fix the problems shown")
            policy_id, revision = saved
            self.editing, self.revision = policy_id, str(revision)  # keeps the form as it is while the URL follows
            go = self._go({"policy": policy_id}, push=editing == NEW)
        return [rx.toast.success(f"Saved “{draft['name']}”"), go]

    @rx.event(background=True)
    async def delete(self):
        async with self:
            policy_id = self.editing
        if not policy_id or policy_id == NEW:
            return None
        outcome = await invoke(self, lambda session, principal: governance.delete_policy(
            session=session, actor=principal, policy_id=policy_id), write=True)
        if not outcome.ok:
            return outcome.events
        async with self:
            self.editing = ""
            go = self._go({"policy": ""})
        return [rx.toast.success("Policy deleted; its violations stay on record"), go]

    @rx.event(background=True)
    async def enforce_now(self):
        """Apply the saved policy to every existing entity it targets."""
        async with self:
            policy_id = self.editing
        if not policy_id or policy_id == NEW:
            return None
        outcome = await invoke(self, lambda session, principal: governance.enforce_policy(
            session=session, actor=principal, policy_id=policy_id), write=True)
        if not outcome.ok:
            return outcome.events
        r = outcome.value
        message = (f"Checked {fmt.count(r['evaluated'])} entities: {fmt.count(r['compliant'])} compliant, "
                   f"{fmt.count(r['violationsOpened'])} new violations, {fmt.count(r['violationsResolved'])} resolved")
        events = await self._fetch()
        return [rx.toast.success(message), *(events or [])]

    # --- test against an entity ------------------------------------------------------------------------------

    @rx.event(background=True)
    async def choose_test_type(self, value: str):
        async with self:
            if value not in self.targets:
                return None
            self.test_type, self.test_action, self.test_entity = value, NO_ACTION, ""
        return PoliciesState.load_choices

    @rx.event(background=True)
    async def load_choices(self):
        """The entities of the chosen type, by name."""
        async with self:
            kind = self.test_type
        if not kind:
            return None
        outcome = await invoke(self, lambda session, principal: governance.entity_choices(
            session=session, actor=principal, entity_type=kind))
        if not outcome.ok:
            return outcome.events
        async with self:
            self.choices = [{"id": i, "name": n} for i, n in outcome.value]
            if self.test_entity not in {c["id"] for c in self.choices}:
                self.test_entity = self.choices[0]["id"] if self.choices else ""
        return None

    @rx.event
    def set_test(self, field: str, value: str):
        if field == "entity":
            self.test_entity = str(value)[:120]
        elif field == "action" and (value == NO_ACTION or value in ACTIONS):
            self.test_action = value
        elif field == "stage" and value in STAGES:
            self.test_stage = value
        elif field == "as":
            self.test_as = str(value)[:64].strip()

    @rx.event(background=True)
    async def run_test(self):
        """Dry-run the form as it is (saved or not) against the chosen entity: each rule's result."""
        async with self:
            if self.testing:
                return None
            draft, kind, entity_id = self._draft(), self.test_type, self.test_entity
            action, stage, as_user = self.test_action, self.test_stage, self.test_as
            if not kind or not entity_id:
                return rx.toast.error("Choose an entity to test against")
            self.testing = True
        action = action if action in ACTIONS else ""
        body = {"policy": draft, "entityType": kind, "entityId": entity_id, "action": action or None,
                "actionDetails": {"toStage": stage} if action in ("model.promote", "model.rollback") else {},
                "asUser": as_user or None}

        def work(session: Session, principal: Principal) -> tuple[str, Any]:
            try:
                return "ok", governance.evaluate_draft(session=session, actor=principal, data=body)
            except AISystemError as error:
                if error.code == "GOV_002":
                    return "invalid", list(error.details.get("errors", []))
                raise

        outcome = await invoke(self, work)
        async with self:
            self.testing = False
            if not outcome.ok:
                return outcome.events
            status, value = outcome.value
            if status == "invalid":
                self._show_problems(value, [])
                self.test_rules, self.test_verdict = [], ""
                self.test_summary = "Fix the problems in the rules first"
                return None
            self._show_result(value)
        return None

    def _show_result(self, r: dict[str, Any]) -> None:
        self.test_rules = [{"name": x["name"], "expression": x["expression"],
                            "result": "Passed" if x["passed"] else "Failed", "reason": x["reason"] or ""}
                           for x in r["rules"]]
        if not r["applies"]:
            self.test_verdict, self.test_summary = "not_applicable", (
                f"The policy does not apply to {r['entityName']} here ({r['appliesReason']}).")
        elif r["compliant"]:
            self.test_verdict, self.test_summary = "compliant", f"{r['entityName']} passes every rule."
        elif r["waived"]:
            self.test_verdict, self.test_summary = "waived", (
                f"{r['entityName']} fails, but a waiver of this policy covers it: the action would go through.")
        else:
            failed = sum(1 for x in r["rules"] if not x["passed"])
            effect = "would be blocked" if r["wouldBlock"] else "would go through and a violation would be recorded"
            self.test_verdict = "failing"
            self.test_summary = f"{r['entityName']} fails {fmt.plural(failed, 'rule')}: the action {effect}."
        user = r["context"]["user"]
        self.test_context = (f"As {user['username']} ({fmt.label(user['role'])}, department "
                             f"{user['department'] or fmt.NONE}, clearance {user['clearanceLevel']})")
