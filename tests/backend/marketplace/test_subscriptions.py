"""Money shown before it is charged: every quote equals what the action then bills (new subscription,
upgrade, downgrade, resume, cancel, one-time purchase, periods due), a confirmed quote is billed exactly,
a stale or changed one bills nothing; a cancelled subscription reads as what it is; who sells "Contact"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.schemas import ModelCreate
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace import service
from backend.marketplace.models import BillingRecord, Listing, Provider, Purchase, Subscription
from backend.marketplace.service.money import to_cents

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # January: a 31-day first period
PAGE = PageParams(limit=50)
PRICES = {"Basic": 1000, "Pro": 5000}  # cents, as the market fixture's Alpha Vision sells them


@pytest.fixture
def fraud_model(session, actors) -> str:
    """A catalog model with an endpoint, to publish as a company listing."""
    model = registry_service.create_model(session=session, actor=actors["ml_engineer"], embed=False,
                                          data=ModelCreate.model_validate({
                                              "name": "Fraud Detector", "type": "Tabular", "category": "Computer Vision",
                                              "framework": "PyTorch", "version": "1.1.0",
                                              "deployment": {"endpoints": ["endpoint_1"]}}))
    session.flush()
    return model.id


def billed_cents(session, since: int = 0) -> list[int]:
    """Amounts (cents) of the billing records, in the order they were written, from the `since`-th on."""
    rows = session.exec(select(BillingRecord).order_by(BillingRecord.created_at, BillingRecord.id)).all()
    return [r.amount_cents for r in rows][since:]


def count(session, table) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def error(call, **kw) -> AISystemError:
    with pytest.raises(AISystemError) as excinfo:
        call(**kw)
    return excinfo.value


@pytest.fixture
def buyer(actors):
    return actors["data_scientist"]  # a cost centre that is not commercial: may take any licence


def test_a_new_subscription_is_quoted_at_its_first_period(session, market, buyer):
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier="Pro",
                          now=T0)
    assert (quote.action, quote.tier, quote.previous_tier, quote.amount, quote.due) == ("subscribe", "Pro", None, 50.0, 0)
    assert quote.recurring_price == 50.0 and quote.billing == "monthly" and quote.requests_quota == 10000
    assert quote.next_billing_at == datetime(2026, 2, 1, tzinfo=UTC) and quote.currency == "USD"
    assert [(line.kind, line.amount) for line in quote.lines] == [("period", 50.0)]
    result = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro", now=T0,
                               quoted_at=quote.quoted_at, expected_amount=quote.amount)
    assert billed_cents(session) == [to_cents(quote.amount)] and result.charge.amount == quote.amount
    assert result.subscription.current_period_end == quote.next_billing_at


@pytest.mark.parametrize(("first", "second", "days"), [("Basic", "Pro", 9.3), ("Pro", "Basic", 20.7)],
                         ids=["upgrade", "downgrade"])
def test_a_tier_change_bills_exactly_the_quoted_proration(session, market, buyer, first, second, days):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier=first, now=T0)
    quoted = T0 + timedelta(days=days)
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier=second,
                          now=quoted)
    prorate = lambda at: service.prorated_cents(  # noqa: E731
        old_cents=PRICES[first], new_cents=PRICES[second], period_start=T0, period_end=datetime(2026, 2, 1, tzinfo=UTC),
        at=at)
    expected_cents = prorate(quoted)
    assert quote.action == "change" and to_cents(quote.amount) == expected_cents != 0
    assert (quote.amount > 0) is (second == "Pro")  # an upgrade is charged, a downgrade credited
    assert quote.previous_tier == first and quote.recurring_price == {"Basic": 10.0, "Pro": 50.0}[second]
    assert count(session, BillingRecord) == 1  # the quote wrote nothing
    # Confirmed nine minutes later: billed at the quote's moment, not at the confirmation's.
    later = quoted + timedelta(minutes=9)
    result = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier=second, now=later,
                               quoted_at=quote.quoted_at, expected_amount=quote.amount)
    assert billed_cents(session, since=1) == [to_cents(quote.amount)] and result.charge.amount == quote.amount
    assert prorate(later) != expected_cents  # the moment matters, and the quote's is the one billed


def test_periods_due_are_quoted_with_the_change(session, market, buyer):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic", now=T0)
    at = datetime(2026, 2, 11, tzinfo=UTC)  # the second period started on 1 Feb and is not billed yet
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier="Pro", now=at)
    assert quote.due == 10.0 and [line.kind for line in quote.lines] == ["period", "proration"]
    assert quote.lines[0].period_start == datetime(2026, 2, 1, tzinfo=UTC)
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro", now=at,
                      quoted_at=quote.quoted_at, expected_amount=quote.amount)
    assert billed_cents(session, since=1) == [to_cents(line.amount) for line in quote.lines]
    assert sum(billed_cents(session, since=1)) == to_cents(quote.amount + quote.due)


def test_cancel_is_quoted_as_nothing_refunded_and_active_until_the_period_end(session, market, buyer):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro", now=T0)
    at = T0 + timedelta(days=10)
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="cancel", now=at)
    assert (quote.action, quote.amount, quote.refund, quote.due, quote.lines) == ("cancel", 0, 0, 0, [])
    assert quote.active_until == datetime(2026, 2, 1, tzinfo=UTC) and quote.tier == "Pro"
    assert quote.recurring_price is None and quote.next_billing_at is None
    cancelled = service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha, now=at)
    assert cancelled.ends_at == quote.active_until and billed_cents(session) == [5000]
    again = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="cancel", now=at)
    assert again.active_until == quote.active_until
    resume = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier="Pro", now=at)
    assert (resume.action, resume.amount, resume.next_billing_at) == ("resume", 0, quote.active_until)


def test_a_cancelled_subscription_reads_active_until_then_ended(session, market, buyer):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic")
    sub_row = session.exec(select(Subscription)).one()
    service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha)
    [live] = service.list_subscriptions(session=session, actor=buyer, params=PAGE)[0]
    assert (live.status, live.cancel_at_period_end) == ("cancelling", True) and live.ends_at == sub_row.ends_at
    # The period ends: nothing is renewed, and the subscription reads "ended" with the day it ended.
    service.renew_subscriptions(session=session, now=sub_row.ends_at + timedelta(seconds=1))
    assert service.list_subscriptions(session=session, actor=buyer, params=PAGE)[0] == []
    [ended] = service.list_subscriptions(session=session, actor=buyer, params=PAGE, include_ended=True)[0]
    assert ended.status == "ended" and ended.ends_at == sub_row.ends_at and ended.current_period_end is None
    assert service.pricing_info(session=session, actor=buyer, listing_id=market.alpha).subscription is None


def test_a_purchase_bills_the_quoted_price(session, market, buyer):
    quote = service.quote(session=session, actor=buyer, listing_id=market.gamma, action="purchase")
    assert (quote.action, quote.amount, quote.recurring_price, quote.next_billing_at) == ("purchase", 5000.0, None, None)
    assert quote.lines[0].description == "One-time licence (Commercial)"
    bought = service.purchase(session=session, actor=buyer, listing_id=market.gamma, expected_amount=quote.amount)
    assert bought.amount == quote.amount
    assert session.exec(select(Purchase.amount_cents)).one() == to_cents(quote.amount)


def test_a_changed_price_bills_nothing(session, market, buyer, actors):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic", now=T0)
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier="Pro",
                          now=T0 + timedelta(days=3))
    purchase_quote = service.quote(session=session, actor=buyer, listing_id=market.gamma, action="purchase")
    tiers = [{"name": "Basic", "price": 10, "requests": 1000}, {"name": "Pro", "price": 80, "requests": 10000}]
    service.update_listing(session=session, actor=actors["admin"], listing_id=market.alpha, data=s.ListingUpdate(
        pricing={"model": "subscription", "tiers": tiers}))
    service.update_listing(session=session, actor=actors["admin"], listing_id=market.gamma, data=s.ListingUpdate(
        pricing={"model": "one_time", "oneTimePrice": 5500, "tiers": []}))
    records, tier = count(session, BillingRecord), session.exec(select(Subscription.tier_name)).one()
    changed = error(service.subscribe, session=session, actor=buyer, listing_id=market.alpha, tier="Pro",
                    now=T0 + timedelta(days=3, minutes=2), quoted_at=quote.quoted_at, expected_amount=quote.amount)
    assert changed.code == "MARKET_002" and changed.details["reason"] == "price_changed"
    assert changed.details["expectedAmount"] == quote.amount and changed.details["amount"] > quote.amount
    assert count(session, BillingRecord) == records and session.exec(select(Subscription.tier_name)).one() == tier
    refused = error(service.purchase, session=session, actor=buyer, listing_id=market.gamma,
                    expected_amount=purchase_quote.amount)
    assert refused.details["reason"] == "price_changed" and count(session, Purchase) == 0


def test_a_stale_quote_bills_nothing(session, market, buyer):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic", now=T0)
    at = T0 + timedelta(days=30, hours=23, minutes=58)  # two minutes before the period ends
    quote = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="subscribe", tier="Pro", now=at)
    kw = {"session": session, "actor": buyer, "listing_id": market.alpha, "tier": "Pro",
          "quoted_at": quote.quoted_at, "expected_amount": quote.amount}
    expired = error(service.subscribe, **kw, now=at + service.QUOTE_VALID + timedelta(seconds=1))
    assert (expired.code, expired.details["reason"]) == ("MARKET_002", "quote_expired")
    next_period = error(service.subscribe, **kw, now=datetime(2026, 2, 1, 0, 5, tzinfo=UTC))  # 7 minutes on
    assert next_period.details["reason"] == "quote_expired"
    future = error(service.subscribe, **kw, now=at - timedelta(minutes=1))
    assert future.code == "REQ_001"
    # A cancel quoted before a period turned would not say when use ends any more.
    cancel = service.quote(session=session, actor=buyer, listing_id=market.alpha, action="cancel", now=at)
    stale = error(service.cancel_subscription, session=session, actor=buyer, listing_id=market.alpha,
                  now=datetime(2026, 2, 1, 0, 5, tzinfo=UTC), quoted_at=cancel.quoted_at)
    assert stale.details["reason"] == "quote_expired"
    assert count(session, BillingRecord) == 1 and not session.exec(select(Subscription)).one().cancel_at_period_end


def test_a_quote_refuses_what_the_action_would_refuse_and_writes_nothing(session, market, buyer, actors):
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic")
    audits, records = count(session, AuditRecord), count(session, BillingRecord)
    quote = lambda **kw: service.quote(session=session, listing_id=market.alpha, **kw)  # noqa: E731
    same = error(quote, actor=buyer, action="subscribe", tier="basic")
    assert same.code == "MARKET_002"
    contact = error(quote, actor=buyer, action="subscribe", tier="Enterprise")
    assert (contact.code, contact.details["reason"]) == ("MARKET_003", "contact_sales")
    assert error(quote, actor=buyer, action="subscribe", tier="Gold").code == "REQ_001"
    assert error(quote, actor=actors["ml_ops"], action="cancel").code == "MARKET_001"
    not_sold = error(quote, actor=buyer, action="purchase")
    assert (not_sold.code, not_sold.details["reason"]) == ("MARKET_003", "not_for_sale")
    assert error(quote, actor=buyer, action="refund").code == "REQ_001"
    licence = error(service.quote, session=session, actor=actors["business_user"], listing_id=market.beta,
                    action="subscribe", tier="Community")  # CC-BY-NC and a commercial cost centre
    assert licence.details["reason"] == "commercial_use_forbidden"
    missing = error(service.quote, session=session, actor=buyer, listing_id="market_model_nope", action="cancel")
    assert missing.code == "MARKET_001"
    assert (count(session, AuditRecord), count(session, BillingRecord)) == (audits, records)


def test_contact_sales_names_the_providers_address(session, market, actors, fraud_model):
    buyer = actors["data_scientist"]
    acme = session.exec(select(Provider).where(Provider.slug == "acme-ai")).one()
    contact = service.pricing_info(session=session, actor=buyer, listing_id=market.alpha).sales_contact
    # No provider address yet: the listing's support address.
    assert (contact.name, contact.email, contact.demo, contact.website) == (
        "Acme AI", "help@acme.example", False, "https://acme.example")
    acme.contact_email, acme.contact_is_demo = "sales@acme-ai.example.com", True
    session.add(acme)
    session.flush()
    contact = service.pricing_info(session=session, actor=buyer, listing_id=market.alpha).sales_contact
    assert (contact.email, contact.demo) == ("sales@acme-ai.example.com", True)
    refused = error(service.subscribe, session=session, actor=buyer, listing_id=market.alpha, tier="Enterprise")
    assert "sales@acme-ai.example.com" in refused.message
    # A company model: its publisher, until the company provider has an address of its own.
    listing = service.create_listing(session=session, actor=actors["ml_engineer"],
                                     data=s.ListingCreate(source_model_id=fraud_model))
    company = service.pricing_info(session=session, actor=buyer, listing_id=listing.id).sales_contact
    assert company.email == "ml_engineer@demo.aisystem.local" and "(publisher)" in company.name
    # Nobody to write to: no address, the provider's website instead.
    beta = session.get(Listing, market.beta)
    contact = service.pricing_info(session=session, actor=buyer, listing_id=beta.id).sales_contact
    assert contact.email is None and contact.name == "OpenThing"


def test_seeded_providers_have_demo_contact_addresses(session, demo_users):
    from backend.marketplace import seed

    seed.seed_marketplace(session)
    session.commit()
    providers = session.exec(select(Provider)).all()
    assert providers and all(p.contact_email and p.contact_is_demo for p in providers)
    assert all(p.contact_email.endswith(".example.com") for p in providers)
    meta = next(p for p in providers if p.slug == "meta")
    assert meta.contact_email == "sales@meta.example.com"
    # An install seeded before providers had a contact gets the demo addresses on the next seed (audited).
    meta.contact_email, meta.contact_is_demo = None, False
    session.add(meta)
    audit.record(session=session, actor=None, actor_name="test", action="marketplace.provider.update",
                 entity_type="marketplace_provider", entity_id=meta.id)
    session.commit()
    assert seed.seed_marketplace(session) == "marketplace present"
    session.commit()  # passes the audit rule: the seed recorded what it changed
    session.refresh(meta)
    assert (meta.contact_email, meta.contact_is_demo) == ("sales@meta.example.com", True)
    assert seed._demo_contacts(session) == 0  # a second run changes nothing
