"""Marketplace metering from the prediction log: a company model's subscribers see their predictions in
the listing's usage, and a used-up quota stops their next predictions with INFER_004."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.core.errors import AISystemError
from backend.endpoints import metering, predlog
from backend.endpoints import service as endpoints
from backend.endpoints.models import PredictionLog
from backend.marketplace import schemas as s
from backend.marketplace import service as marketplace
from tests.backend.endpoints.conftest import rows
from tests.backend.marketplace.conftest import make_category


@pytest.fixture(autouse=True)
def _no_exhausted_quotas():
    metering.clear()
    yield
    metering.clear()


@pytest.fixture
def served(session, principals, iris_model):
    """The iris model published as a company listing with a 5-request tier, and a running endpoint."""
    ops, engineer = principals["ml_ops"], principals["ml_engineer"]
    make_category(session, "tabular", "Tabular")
    listing = marketplace.publish_listing(session=session, actor=engineer, embed=False, data=s.ListingCreate(
        source_model_id=iris_model, category="tabular", pricing=s.PricingInput(model="subscription", tiers=[
            s.PricingTierInput(name="Trial", price=0, requests=5)])))
    endpoint = endpoints.create_endpoint(session=session, actor=ops, data={"name": "iris"})
    endpoints.deploy(session=session, actor=ops, endpoint_id=endpoint.id, data={"modelId": iris_model, "version": "1.0.0"})
    session.commit()
    return listing.id, endpoint.id


def predict(session, actor, endpoint_id, n=1):
    return endpoints.predict(session=session, actor=actor, endpoint_id=endpoint_id, instances=rows(n))


def usage(session, actor, listing_id):
    return marketplace.usage_report(session=session, actor=actor, listing_id=listing_id, days=1)


def test_predictions_count_in_the_listings_usage(session, principals, served):
    listing_id, endpoint_id = served
    user = principals["data_scientist"]
    predict(session, user, endpoint_id, n=2)
    predict(session, user, endpoint_id, n=1)
    session.commit()  # the log writer has a session of its own
    predlog.flush()  # what its background thread has not written yet
    session.expire_all()
    logged = session.exec(select(PredictionLog).where(PredictionLog.endpoint_id == endpoint_id)).all()
    assert len(logged) == 2  # one row per request
    report = usage(session, user, listing_id)
    assert report.totals.requests == 3  # instances, not requests
    assert usage(session, principals["ml_ops"], listing_id).totals.requests == 0  # another user's use


def test_a_used_up_quota_stops_the_subscribers_predictions(session, principals, served):
    listing_id, endpoint_id = served
    user = principals["data_scientist"]
    marketplace.subscribe(session=session, actor=user, listing_id=listing_id, tier="Trial")
    session.commit()
    predict(session, user, endpoint_id, n=5)
    session.commit()
    predlog.flush()
    with pytest.raises(AISystemError) as refused:
        predict(session, user, endpoint_id)
    assert refused.value.code == "INFER_004"
    assert refused.value.details["quota"] == 5 and refused.value.details["used"] == 5
    # Someone without a subscription is not held back by it.
    assert predict(session, principals["ml_ops"], endpoint_id)["predictions"]


def test_errors_and_shadow_copies_are_not_use():
    from datetime import UTC, datetime

    at = datetime(2026, 12, 6, tzinfo=UTC)
    logged = [dict(model_id="m", user_id="u", status="ok", role="primary", instances=2, latency_ms=4.0, created_at=at),
              dict(model_id="m", user_id="u", status="error", role="primary", instances=1, latency_ms=1.0, created_at=at),
              dict(model_id="m", user_id="u", status="ok", role="shadow", instances=1, latency_ms=1.0, created_at=at),
              dict(model_id="m", user_id="u", status="ok", role="canary", instances=1, latency_ms=1.0, created_at=at)]
    assert metering._groups(logged) == {("m", "u", at.date()): [3, 9.0, at]}
