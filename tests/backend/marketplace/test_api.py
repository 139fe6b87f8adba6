"""Every /api/v1/marketplace route over HTTP: status codes, camelCase documents, error codes, refusals."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.audit.models import AuditRecord

M = "/api/v1/marketplace"


def err(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def h(auth):
    return auth.headers


def test_list_get_and_categories(api, h, market):
    page = api.get(f"{M}/models", params={"sort": "name", "limit": 2}, headers=h("business_user"))
    assert page.status_code == 200
    body = page.json()
    assert [i["name"] for i in body["items"]] == ["Alpha Vision", "Beta Chat"] and body["nextCursor"]
    rest = api.get(f"{M}/models", params={"sort": "name", "limit": 2, "cursor": body["nextCursor"]},
                   headers=h("business_user")).json()
    assert [i["name"] for i in rest["items"]] == ["Delta Embed", "Gamma Chat"] and rest["nextCursor"] is None
    one = api.get(f"{M}/models/{market.alpha}", headers=h("ml_ops")).json()
    assert one["provider"]["totalModels"] == 2 and one["pricing"]["tiers"][2]["price"] == "Contact"
    assert one["ratings"]["easeOfUse"] is None and one["usage"]["totalDownloads"] == 0
    by_slug = api.get(f"{M}/models/alpha-vision", headers=h("ml_ops")).json()
    assert by_slug["id"] == market.alpha
    missing = api.get(f"{M}/models/market_model_nope", headers=h("ml_ops"))
    assert (missing.status_code, err(missing)) == (404, "MARKET_001")
    cats = api.get(f"{M}/categories", headers=h("data_engineer")).json()["items"]
    assert [(c["slug"], c["modelCount"]) for c in cats] == [("vision", 1), ("llm", 2), ("embeddings", 1), ("empty", 0)]
    llm = api.get(f"{M}/categories/llm/models", headers=h("data_engineer")).json()["items"]
    assert {i["name"] for i in llm} == {"Beta Chat", "Gamma Chat"}
    assert err(api.get(f"{M}/categories/nope/models", headers=h("data_engineer"))) == "MARKET_001"
    providers = api.get(f"{M}/providers", headers=h("data_engineer")).json()["items"]
    assert [(p["slug"], p["totalModels"], p["kind"]) for p in providers] == [("acme-ai", 2, "external"),
                                                                             ("openthing", 2, "external")]
    acme = api.get(f"{M}/providers/acme-ai/models", params={"sort": "newest"}, headers=h("data_engineer")).json()
    assert [i["name"] for i in acme["items"]] == ["Gamma Chat", "Alpha Vision"]
    assert api.get(f"{M}/providers/nobody/models", headers=h("data_engineer")).status_code == 404


def test_search_with_facets_over_http(api, h, market):
    response = api.get(f"{M}/search", params=[("q", "chat"), ("category", "llm"), ("tags", "chat")],
                       headers=h("business_user"))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and {i["name"] for i in body["items"]} == {"Beta Chat", "Gamma Chat"}
    assert {f["value"]: f["count"] for f in body["facets"]["provider"]} == {"acme-ai": 1, "openthing": 1}
    assert {f["value"]: f["count"] for f in body["facets"]["category"]} == {"llm": 2}  # q=chat and tags=chat apply
    assert set(body["facets"]) == {"category", "provider", "licenseType", "tags", "verified", "commercialUse",
                                   "price", "rating", "contextLength", "parameters"}
    several = api.get(f"{M}/search", params=[("provider", "acme-ai"), ("provider", "openthing"),
                                            ("licenseType", "MIT")], headers=h("business_user")).json()
    assert [i["name"] for i in several["items"]] == ["Delta Embed"]
    for params, field in ([("category", "robots")], "category"), ([("tags", "nope")], "tags"), \
                         ([("licenseType", "GPL-2.0")], "licenseType"):
        bad = api.get(f"{M}/search", params=params, headers=h("business_user"))
        assert (bad.status_code, err(bad)) == (422, "REQ_001")
        assert bad.json()["error"]["details"]["fields"][0]["field"] == field
    assert api.get(f"{M}/search", params={"sort": "loudest"}, headers=h("business_user")).status_code == 422
    assert api.get(f"{M}/search", params={"minRating": 6}, headers=h("business_user")).status_code == 422


def test_discovery_routes(api, h, market):
    admin = h("admin")
    assert api.put(f"{M}/models/{market.beta}", json={"featuredRank": 1}, headers=admin).status_code == 200
    featured = api.get(f"{M}/featured", headers=h("business_user")).json()["items"]
    assert [(i["name"], i["score"]) for i in featured] == [("Beta Chat", 1.0)]
    new = api.get(f"{M}/new", params={"limit": 1}, headers=h("business_user")).json()
    assert new["items"][0]["name"] == "Gamma Chat" and new["nextCursor"]
    assert api.get(f"{M}/trending", headers=h("business_user")).json()["items"] == []
    assert len(api.get(f"{M}/popular", params={"category": "llm"}, headers=h("business_user")).json()["items"]) == 2
    unknown = api.get(f"{M}/popular", params={"category": "nope"}, headers=h("business_user"))
    assert (unknown.status_code, err(unknown)) == (422, "REQ_001")
    description = api.get("/api/v1/openapi.json").json()["paths"]["/marketplace/trending"]["get"]["description"]
    assert "2^(−d/3)" in description


EXTERNAL = {"name": "Omega OCR", "category": "vision", "provider": {"name": "Omega Labs", "verified": True},
            "licenses": [{"type": "Apache-2.0", "commercialUse": True}], "tags": ["ocr"],
            "pricing": {"model": "subscription", "tiers": [{"name": "Basic", "price": 5, "requests": 100}]}}


def test_publish_update_remove(api, h, market):
    created = api.post(f"{M}/models", json=EXTERNAL, headers=h("admin"))
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["provider"]["name"] == "Omega Labs" and doc["slug"] == "omega-ocr" and doc["status"] == "available"
    for role in ("ml_engineer", "business_user"):
        refused = api.post(f"{M}/models", json=EXTERNAL, headers=h(role))
        assert (refused.status_code, err(refused)) == (403, "AUTH_002")
        assert refused.json()["error"]["details"]["permission"] == "marketplace:write"
    assert err(api.put(f"{M}/models/{doc['id']}", json={"name": "x"}, headers=h("ml_engineer"))) == "AUTH_002"
    updated = api.put(f"{M}/models/{doc['id']}", json={"version": "1.1.0", "tags": ["ocr", "documents"]},
                      headers=h("admin")).json()
    assert updated["version"] == "1.1.0" and updated["tags"] == ["documents", "ocr"]
    refused = api.delete(f"{M}/models/{doc['id']}", headers=h("data_scientist"))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["permission"] == "marketplace:delete"
    assert api.delete(f"{M}/models/{doc['id']}", headers=h("admin")).status_code == 204
    assert api.get(f"{M}/models/{doc['id']}", headers=h("admin")).status_code == 404


@pytest.mark.parametrize("change", [
    {"unknownField": 1},                                                    # no mass assignment
    {"name": ""},
    {"name": "x" * 121},
    {"category": None, "provider": None},                                   # an external listing needs them
    {"licenses": []},
    {"tags": ["Not A Tag!"]},
    {"pricing": {"model": "subscription", "tiers": []}},
    {"pricing": {"model": "subscription", "tiers": [{"name": "A", "price": "Free", "requests": 1}]}},
    {"pricing": {"model": "subscription", "tiers": [{"name": "A", "price": -1, "requests": 1}]}},
    {"pricing": {"model": "subscription", "tiers": [{"name": "A", "price": 1, "requests": 1},
                                                    {"name": "a", "price": 2, "requests": 2}]}},
    {"support": {"documentation": "javascript:alert(1)"}},
    {"description": "bad\x00byte"},
    {"sourceModelId": "model_x", "provider": "acme-ai"},
])
def test_publishing_validation(api, h, market, change):
    body = {**EXTERNAL, **change}
    response = api.post(f"{M}/models", json=body, headers=h("admin"))
    assert (response.status_code, err(response)) == (422, "REQ_001"), response.text


def test_reviews_over_http(api, h, market):
    url = f"{M}/models/{market.alpha}/reviews"
    created = api.post(url, json={"rating": 4, "aspects": {"easeOfUse": 5}, "title": "Good", "text": "Solid"},
                       headers=h("ml_engineer"))
    assert created.status_code == 201
    review = created.json()
    assert review["aspects"]["easeOfUse"] == 5 and review["authorName"] == "Mina Engineer" and not review["demo"]
    second = api.post(url, json={"rating": 1}, headers=h("ml_engineer"))
    assert (second.status_code, err(second)) == (409, "MARKET_002")
    assert second.json()["error"]["details"]["reviewId"] == review["id"]
    others = api.put(f"{url}/{review['id']}", json={"rating": 1}, headers=h("business_user"))
    assert (others.status_code, err(others)) == (403, "MARKET_003")
    edited = api.put(f"{url}/{review['id']}", json={"text": None}, headers=h("ml_engineer")).json()
    assert edited["text"] is None and edited["title"] == "Good"
    for bad in ({"rating": 6}, {"rating": 0}, {"rating": 4, "aspects": {"value": 9}}, {"rating": 4, "title": "x" * 121},
                {"rating": 4, "text": "x" * 5001}, {"rating": 4, "title": "   "}, {"rating": 4, "verifiedUse": True}):
        response = api.post(f"{M}/models/{market.beta}/reviews", json=bad, headers=h("ml_ops"))
        assert (response.status_code, err(response)) == (422, "REQ_001"), bad
    listed = api.get(url, headers=h("business_user")).json()["items"]
    assert [r["id"] for r in listed] == [review["id"]]
    assert api.delete(f"{url}/{review['id']}", headers=h("business_user")).status_code == 403
    assert api.delete(f"{url}/{review['id']}", params={"reason": "off-topic"}, headers=h("admin")).status_code == 204
    assert api.get(url, headers=h("business_user")).json()["items"] == []
    assert api.delete(f"{url}/{review['id']}", headers=h("admin")).status_code == 404


def test_rate_creates_then_updates(api, h, market):
    first = api.post(f"{M}/models/{market.beta}/rate", json={"rating": 3}, headers=h("ml_ops"))
    again = api.post(f"{M}/models/{market.beta}/rate", json={"rating": 5}, headers=h("ml_ops"))
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    ratings = api.get(f"{M}/models/{market.beta}", headers=h("ml_ops")).json()["ratings"]
    assert ratings["overall"] == 5.0 and ratings["distribution"]["5"] == 1 and ratings["reviewCount"] == 1


def test_license_pricing_subscribe_usage(api, h, market):
    nc = api.get(f"{M}/models/{market.beta}/license", headers=h("business_user")).json()
    assert nc["commercialUse"] is False and nc["yourUse"]["allowed"] is False and "CC-SALES" in nc["yourUse"]["reason"]
    assert api.get(f"{M}/models/{market.beta}/license", headers=h("ml_engineer")).json()["yourUse"]["allowed"]
    refused = api.post(f"{M}/models/{market.beta}/subscribe", json={"tier": "Community"}, headers=h("business_user"))
    assert (refused.status_code, err(refused)) == (403, "MARKET_003")
    assert refused.json()["error"]["details"]["reason"] == "commercial_use_forbidden"

    url = f"{M}/models/{market.alpha}"
    created = api.post(f"{url}/subscribe", json={"tier": "Basic"}, headers=h("business_user"))
    assert created.status_code == 201
    assert created.json()["action"] == "created" and created.json()["charge"]["amount"] == 10.0
    twice = api.post(f"{url}/subscribe", json={"tier": "Basic"}, headers=h("business_user"))
    assert (twice.status_code, err(twice)) == (409, "MARKET_002")
    changed = api.post(f"{url}/subscribe", json={"tier": "Pro"}, headers=h("business_user"))
    assert changed.status_code == 200 and changed.json()["charge"]["kind"] == "proration"
    assert 0 < changed.json()["charge"]["amount"] <= 40.0
    contact = api.post(f"{url}/subscribe", json={"tier": "Enterprise"}, headers=h("business_user"))
    assert contact.json()["error"]["details"]["reason"] == "contact_sales"
    assert api.post(f"{url}/subscribe", json={"tier": "Gold"}, headers=h("business_user")).status_code == 422
    assert api.post(f"{url}/subscribe", json={}, headers=h("business_user")).status_code == 422
    pricing = api.get(f"{url}/pricing", headers=h("business_user")).json()
    assert pricing["subscription"]["tier"] == "Pro" and pricing["subscription"]["requestsRemaining"] == 10000
    assert api.get(f"{url}/pricing", headers=h("ml_ops")).json()["subscription"] is None
    cancelled = api.delete(f"{url}/subscribe", headers=h("business_user"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelling" and cancelled.json()["endsAt"]
    assert err(api.delete(f"{url}/subscribe", headers=h("ml_ops"))) == "MARKET_001"
    usage = api.get(f"{url}/usage", params={"days": 7}, headers=h("business_user")).json()
    assert usage["subscription"]["requestsUsed"] == 0 and len(usage["daily"]) == 7
    assert [b["kind"] for b in usage["billing"]] == ["proration", "period"]
    mine = api.get(f"{M}/subscriptions", headers=h("business_user")).json()["items"]
    assert [(s["listingName"], s["status"]) for s in mine] == [("Alpha Vision", "cancelling")]
    assert api.get(f"{M}/subscriptions", headers=h("ml_ops")).json()["items"] == []
    assert api.get(f"{url}/usage", params={"days": 0}, headers=h("business_user")).status_code == 422


def test_purchase(api, h, market):
    bought = api.post(f"{M}/models/{market.gamma}/purchase", headers=h("ml_ops"))
    assert bought.status_code == 201 and bought.json()["amount"] == 5000.0
    assert err(api.post(f"{M}/models/{market.gamma}/purchase", headers=h("ml_ops"))) == "MARKET_002"
    not_sold = api.post(f"{M}/models/{market.alpha}/purchase", headers=h("ml_ops"))
    assert (not_sold.status_code, not_sold.json()["error"]["details"]["reason"]) == (403, "not_for_sale")
    assert api.get(f"{M}/models/{market.gamma}/usage", headers=h("ml_ops")).json()["purchase"]["licenseType"] == \
        "Commercial"


def test_favorites(api, h, market):
    me = h("data_scientist")
    assert api.post(f"{M}/favorites/{market.delta}", headers=me).status_code == 201
    assert api.post(f"{M}/favorites/{market.delta}", headers=me).status_code == 200
    assert api.post(f"{M}/favorites/market_model_nope", headers=me).status_code == 404
    assert [i["name"] for i in api.get(f"{M}/favorites", headers=me).json()["items"]] == ["Delta Embed"]
    assert api.get(f"{M}/favorites", headers=h("ml_ops")).json()["items"] == []
    assert api.delete(f"{M}/favorites/{market.delta}", headers=me).status_code == 204
    assert api.delete(f"{M}/favorites/{market.delta}", headers=me).status_code == 204
    assert api.get(f"{M}/favorites", headers=me).json()["items"] == []


def test_mutations_leave_audit_records(api, h, market, session):
    api.post(f"{M}/favorites/{market.delta}", headers=h("data_scientist"))
    api.post(f"{M}/models/{market.alpha}/subscribe", json={"tier": "Basic"}, headers=h("ml_ops"))
    rows = session.exec(select(AuditRecord).where(AuditRecord.action.in_(
        ["marketplace.favorite.add", "marketplace.subscription.create"]))).all()
    assert {(r.action, r.actor_name) for r in rows} == {("marketplace.favorite.add", "data_scientist"),
                                                         ("marketplace.subscription.create", "ml_ops")}
    assert all(r.request_id for r in rows)


def test_anonymous_is_refused(api, market):
    response = api.get(f"{M}/search")
    assert (response.status_code, err(response)) == (401, "AUTH_001")
