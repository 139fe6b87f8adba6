"""The compliance console's state: scorecards, failing controls first, assessment, attestation and sign-off;
the provenance console's click-to-record mapping."""

from __future__ import annotations

import pytest
from sqlmodel import select

from aisystem_app.state.governance.compliance import ComplianceState, control_row, history_figure
from aisystem_app.state.governance.provenance import node_positions
from aisystem_app.state.lineage import lineage_figure
from backend.auth.principal import SYSTEM
from backend.compliance import service
from backend.compliance.models import Assessment
from backend.lineage.schemas import GraphEdge, GraphNode, LineageGraph
from tests.aisystem_app.conftest import follow, signed_in_as

pytestmark = pytest.mark.anyio


async def test_assess_attest_and_sign_off(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(ComplianceState)
    await ComplianceState.load.fn(state)
    assert [c["id"] for c in state.cards] == ["GDPR", "SOC2", "ISO27001", "HIPAA", "FedRAMP"]
    assert state.controls == [] and state.cards[0]["when"] == "Never assessed" and state.can_approve
    assert "not a certification" in state.disclaimer

    await ComplianceState.assess.fn(state)
    assert state.message == "Assessment stored." and state.assessments == 1
    statuses = [c["status"] for c in state.controls]
    assert statuses == sorted(statuses, key=lambda s: service.STATUS_ORDER[s])
    assert {"Art.6", "Art.35"} <= {c["id"] for c in state.controls if c["status"] == "needs_attestation"}
    assert all(card["passed"] != "—" for card in state.cards)

    path, _ = await follow(state, ComplianceState.choose.fn(state, "FedRAMP"))
    assert path == "?framework=FedRAMP" and state.framework_name == "FedRAMP"
    ComplianceState.open_attest.fn(state, "CP-9")
    await ComplianceState.attest.fn(state, {"statement": "Nightly database dumps kept 30 days offsite."})
    assert state.attestations[0]["control"] == "CP-9" and state.attestations[0]["evidence"] == "Text only"
    await ComplianceState.assess.fn(state)
    assert next(c for c in state.controls if c["id"] == "CP-9")["status"] == "attested"

    await ComplianceState.request_signoff.fn(state)
    [request] = state.certifications
    assert request["status"] == "pending" and request["framework"] == "FedRAMP"
    await ComplianceState.decide.fn(state, request["id"], "reject")
    assert state.certifications[0]["status"] == "rejected"
    assert next(c for c in state.cards if c["id"] == "FedRAMP")["certification"] == "Rejected"


async def test_read_only_roles_see_no_actions_and_others_are_refused(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["ml_engineer"])
    state = await root_state.get_state(ComplianceState)
    await ComplianceState.load.fn(state)
    assert state.allowed and not state.can_assess and not state.can_attest and not state.can_approve
    await signed_in_as(root_state, demo_users["business_user"])
    await ComplianceState.load.fn(state)
    assert not state.allowed


def test_rows_and_history_chart(session, demo_users) -> None:
    row = service.assess(session=session, actor=SYSTEM)
    session.commit()
    passed = next(c for c in row.results["GDPR"]["controls"] if c["id"] == "Art.30")
    shown = control_row(passed)
    assert shown["status_label"] == "Passed" and shown["kind"] == "Automated"
    assert shown["evidence"].startswith("The audit trail's hash chain verifies: Audit chain intact")
    manual = control_row(next(c for c in row.results["GDPR"]["controls"] if c["id"] == "Art.6"))
    assert manual["status_label"] == "Needs attestation" and manual["manual"] and manual["detail"].startswith("State")
    figure = history_figure(list(session.exec(select(Assessment)).all()))
    assert figure.layout.xaxis.title.text == "Assessed at (UTC)"
    assert figure.layout.yaxis.title.text == "Controls passing (%)"
    assert [t.name for t in figure.data] == ["GDPR", "SOC 2", "ISO/IEC 27001", "HIPAA", "FedRAMP"]


def test_a_click_on_the_drawing_finds_the_node() -> None:
    graph = LineageGraph(root="model:m", depth=2, truncated=False, nodes=[
        GraphNode(id="dataset_version:d@1", kind="dataset_version", label="D v1", depth=-2),
        GraphNode(id="lact_1", kind="activity", label="Training", ref="train", depth=-1),
        GraphNode(id="model_version:m@1.0.0", kind="model_version", label="M 1.0.0", depth=0),
    ], edges=[GraphEdge(source="lact_1", target="dataset_version:d@1", relation="used"),
              GraphEdge(source="model_version:m@1.0.0", target="lact_1", relation="wasGeneratedBy")])
    positions = node_positions(graph, lineage_figure(graph))
    assert sorted(positions.values()) == ["dataset_version:d@1", "lact_1", "model_version:m@1.0.0"]
