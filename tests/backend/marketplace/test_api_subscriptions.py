"""POST /marketplace/models/{modelId}/quote over HTTP, and confirming a quote with /subscribe and
/purchase: what is quoted is what is billed; refusals carry the action's own error codes."""

from __future__ import annotations

import pytest

M = "/api/v1/marketplace"


def err(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def h(auth):
    return auth.headers


def test_quote_then_confirm_bills_the_quoted_amount(api, h, market):
    url = f"{M}/models/{market.alpha}"
    me = h("data_scientist")
    first = api.post(f"{url}/quote", json={"action": "subscribe", "tier": "Basic"}, headers=me)
    assert first.status_code == 200
    body = first.json()
    assert (body["action"], body["amount"], body["recurringPrice"], body["currency"]) == ("subscribe", 10.0, 10.0, "USD")
    assert body["quotedAt"].endswith("Z") and body["validUntil"] > body["quotedAt"] and body["lines"][0]["kind"] == "period"
    created = api.post(f"{url}/subscribe", json={"tier": "Basic", "quotedAt": body["quotedAt"],
                                                 "expectedAmount": body["amount"]}, headers=me)
    assert created.status_code == 201 and created.json()["charge"]["amount"] == body["amount"]

    upgrade = api.post(f"{url}/quote", json={"action": "subscribe", "tier": "Pro"}, headers=me).json()
    assert upgrade["action"] == "change" and upgrade["previousTier"] == "Basic" and 0 < upgrade["amount"] <= 40
    changed = api.post(f"{url}/subscribe", json={"tier": "Pro", "quotedAt": upgrade["quotedAt"],
                                                 "expectedAmount": upgrade["amount"]}, headers=me)
    assert changed.status_code == 200 and changed.json()["charge"]["amount"] == upgrade["amount"]
    billing = api.get(f"{url}/usage", headers=me).json()["billing"]
    assert [b["amount"] for b in billing] == [upgrade["amount"], 10.0]

    cancel = api.post(f"{url}/quote", json={"action": "cancel"}, headers=me).json()
    assert (cancel["amount"], cancel["refund"], cancel["recurringPrice"]) == (0.0, 0.0, None)
    ended = api.delete(f"{url}/subscribe", headers=me).json()
    assert ended["endsAt"] == cancel["activeUntil"] and ended["status"] == "cancelling"
    assert len(api.get(f"{url}/usage", headers=me).json()["billing"]) == 2  # cancelling billed nothing


def test_a_quote_that_no_longer_holds_is_refused_and_bills_nothing(api, h, market):
    url = f"{M}/models/{market.alpha}"
    me = h("data_scientist")
    api.post(f"{url}/subscribe", json={"tier": "Basic"}, headers=me)
    upgrade = api.post(f"{url}/quote", json={"action": "subscribe", "tier": "Pro"}, headers=me).json()
    wrong = api.post(f"{url}/subscribe", json={"tier": "Pro", "quotedAt": upgrade["quotedAt"],
                                               "expectedAmount": upgrade["amount"] + 1}, headers=me)
    assert err(wrong) == (409, "MARKET_002") and wrong.json()["error"]["details"]["reason"] == "price_changed"
    old = api.post(f"{url}/subscribe", json={"tier": "Pro", "quotedAt": "2020-01-01T00:00:00Z"}, headers=me)
    assert err(old) == (409, "MARKET_002") and old.json()["error"]["details"]["reason"] == "quote_expired"
    future = api.post(f"{url}/subscribe", json={"tier": "Pro", "quotedAt": "2999-01-01T00:00:00Z"}, headers=me)
    assert err(future) == (422, "REQ_001")
    assert [b["tier"] for b in api.get(f"{url}/usage", headers=me).json()["billing"]] == ["Basic"]
    stale_cancel = api.delete(f"{url}/subscribe", params={"quotedAt": "2020-01-01T00:00:00Z"}, headers=me)
    assert err(stale_cancel) == (409, "MARKET_002") and stale_cancel.json()["error"]["details"]["reason"] == "quote_expired"
    assert api.get(f"{url}/pricing", headers=me).json()["subscription"]["status"] == "active"  # not cancelled
    cancel = api.post(f"{url}/quote", json={"action": "cancel"}, headers=me).json()
    cancelled = api.delete(f"{url}/subscribe", params={"quotedAt": cancel["quotedAt"]}, headers=me)
    assert cancelled.status_code == 200 and cancelled.json()["endsAt"] == cancel["activeUntil"]

    purchase = api.post(f"{M}/models/{market.gamma}/quote", json={"action": "purchase"}, headers=me).json()
    assert purchase["amount"] == 5000.0 and purchase["lines"][0]["kind"] == "purchase"
    refused = api.post(f"{M}/models/{market.gamma}/purchase", json={"expectedAmount": 4999.99}, headers=me)
    assert err(refused) == (409, "MARKET_002")
    bought = api.post(f"{M}/models/{market.gamma}/purchase", json={"expectedAmount": purchase["amount"]}, headers=me)
    assert bought.status_code == 201 and bought.json()["amount"] == purchase["amount"]


@pytest.mark.parametrize("body", [
    {"action": "subscribe"},
    {"action": "cancel", "tier": "Pro"},
    {"action": "refund"},
    {"action": "subscribe", "tier": "Pro", "price": 1},
    {"action": "subscribe", "tier": ""},
    {},
], ids=["no-tier", "tier-on-cancel", "unknown-action", "unknown-field", "empty-tier", "empty"])
def test_quote_input_is_checked(api, h, market, body):
    response = api.post(f"{M}/models/{market.alpha}/quote", json=body, headers=h("data_scientist"))
    assert err(response) == (422, "REQ_001")


def test_quote_refusals_carry_the_actions_codes(api, h, market):
    me = h("data_scientist")
    quote = lambda listing, **body: api.post(f"{M}/models/{listing}/quote", json=body, headers=me)  # noqa: E731
    assert err(quote("market_model_nope", action="cancel")) == (404, "MARKET_001")
    assert err(quote(market.alpha, action="cancel")) == (404, "MARKET_001")  # nothing to cancel
    contact = quote(market.alpha, action="subscribe", tier="Enterprise")
    assert err(contact) == (403, "MARKET_003") and contact.json()["error"]["details"]["reason"] == "contact_sales"
    assert err(quote(market.alpha, action="subscribe", tier="Gold")) == (422, "REQ_001")
    assert err(quote(market.alpha, action="purchase")) == (403, "MARKET_003")
    licence = api.post(f"{M}/models/{market.beta}/quote", json={"action": "subscribe", "tier": "Community"},
                       headers=h("business_user"))  # a commercial cost centre, a non-commercial licence
    assert licence.json()["error"]["details"]["reason"] == "commercial_use_forbidden"
    api.post(f"{M}/models/{market.alpha}/subscribe", json={"tier": "Basic"}, headers=me)
    assert err(quote(market.alpha, action="subscribe", tier="Basic")) == (409, "MARKET_002")


def test_quote_needs_a_signed_in_caller(api, market):
    response = api.post(f"{M}/models/{market.alpha}/quote", json={"action": "subscribe", "tier": "Basic"})
    assert err(response) == (401, "AUTH_001")


def test_pricing_names_the_sales_contact_and_providers_their_address(api, h, market):
    pricing = api.get(f"{M}/models/{market.alpha}/pricing", headers=h("data_scientist")).json()
    assert pricing["salesContact"] == {"name": "Acme AI", "email": "help@acme.example",
                                       "website": "https://acme.example", "demo": False}
    created = api.post(f"{M}/models", headers=h("admin"), json={
        "name": "Omega Speech", "category": "llm", "licenses": [{"type": "MIT", "commercialUse": True}],
        "provider": {"name": "Omega Labs", "contactEmail": "sales@omega.example.com"},
        "pricing": {"model": "subscription", "tiers": [{"name": "Enterprise", "price": "Contact",
                                                        "requests": "Unlimited"}]}})
    assert created.status_code == 201
    contact = api.get(f"{M}/models/{created.json()['id']}/pricing", headers=h("data_scientist")).json()["salesContact"]
    assert (contact["name"], contact["email"], contact["demo"]) == ("Omega Labs", "sales@omega.example.com", False)
    providers = {p["slug"]: p for p in api.get(f"{M}/providers", headers=h("data_scientist")).json()["items"]}
    assert providers["omega-labs"]["contactEmail"] == "sales@omega.example.com"
    assert providers["acme-ai"]["contactEmail"] is None and providers["acme-ai"]["contactDemo"] is False
    bad = api.post(f"{M}/models", headers=h("admin"), json={
        "name": "Bad Contact", "category": "llm", "licenses": [{"type": "MIT", "commercialUse": True}],
        "provider": {"name": "Bad Labs", "contactEmail": "not an address"}})
    assert err(bad) == (422, "REQ_001")
