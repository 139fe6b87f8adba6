"""/api/v1/comparison, /catalog/models/compare, /scoring and /analysis over HTTP: the design's document,
its numbers worked out by hand from the conftest's table, permissions and every error path."""

from __future__ import annotations

import pytest

BASE = "/api/v1/comparison"


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def business(auth):
    return auth.headers("business_user")


def test_design_example(api, business, world):
    made = api.post(f"{BASE}/compare", json={"models": [world.gpt4, world.claude, world.llama]}, headers=business)
    assert made.status_code == 201, made.text
    doc = made.json()
    assert set(doc) >= {"id", "models", "metrics", "rankings", "insights", "recommendations", "timestamp",
                        "sensitivity", "paretoFront"}
    scores = {m["key"]: m["scores"] for m in doc["metrics"]}
    # Performance against 1.0 = 100: the MMLU fractions.
    assert scores["performance"] == {world.gpt4: 86.4, world.claude: 86.8, world.llama: 68.9}
    # Cost per 1,000 predictions (750 in + 250 out tokens): 37.50, 30.00 and 0 -> min-max, cheapest 100.
    values = {m["key"]: m["values"] for m in doc["metrics"]}
    assert values["cost_efficiency"] == {world.gpt4: 37.5, world.claude: 30.0, world.llama: 0.0}
    assert scores["cost_efficiency"] == {world.gpt4: 0.0, world.claude: 20.0, world.llama: 100.0}
    # Context on a log scale: 4,096 -> 0, 200,000 -> 100, 8,192 -> log(2)/log(200000/4096) = 17.8.
    assert scores["context_size"] == {world.gpt4: 17.8, world.claude: 100.0, world.llama: 0.0}
    assert scores["capabilities"] == {world.gpt4: 50.0, world.claude: 100.0, world.llama: 0.0}
    # Reliability is measured by endpoints only: missing for every listing, excluded and reported.
    assert scores["reliability"] == {world.gpt4: None, world.claude: None, world.llama: None}
    assert doc["missing"][world.gpt4] == ["reliability"]
    assert any("Reliability is unknown for every compared model" in line for line in doc["insights"])
    # Balanced: weights .25/.2/.15/.2/.1 over the 0.9 present.
    overall = {m["modelId"]: m["overallScore"] for m in doc["models"]}
    assert overall[world.claude] == round((0.25 * 86.8 + 0.2 * 20 + 0.15 * 100 + 0.2 * 100) / 0.9, 1)
    assert [m["modelId"] for m in doc["models"]] == [world.claude, world.llama, world.gpt4]
    assert doc["rankings"][world.claude]["overall"] == 1 and doc["rankings"][world.llama]["cost_efficiency"] == 1
    assert doc["recommendations"] == {"bestOverall": world.claude, "bestValue": world.llama,
                                      "bestPerformance": world.claude, "mostFlexible": world.llama}
    assert doc["insights"][0].startswith("Claude 3 Opus has the highest overall score of")
    # GPT-4 is beaten or matched everywhere by Claude 3 Opus: not on the Pareto front.
    assert sorted(doc["paretoFront"]) == sorted([world.claude, world.llama])
    assert doc["dominatedBy"] == {world.gpt4: world.claude}
    cost = next(x for x in doc["sensitivity"] if x["key"] == "cost_efficiency")
    assert cost["increase"]["newWinner"] == world.llama and cost["decrease"] is None
    # Stored: the same document by id, on both routes.
    for path in (f"{BASE}/{doc['id']}", f"/api/v1/catalog/models/compare/{doc['id']}"):
        got = api.get(path, headers=business)
        assert got.status_code == 200 and got.json() == doc


def test_rank_confidence_from_benchmark_samples(api, business, world, session):
    """Three versions benchmarked on the same rows (1.0.0 before samples were kept): the document carries
    the bootstrap block, its insight, and the same block when read back."""
    import numpy as np

    from tests.backend.benchmarks.conftest import stored_result

    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 1000)
    right = {"1.1.0": 0.92, "1.2.0": 0.80, "1.0.0": 0.85}
    for version, accuracy in right.items():
        predicted = np.where(rng.random(1000) < accuracy, truth, 1 - truth)
        stored_result(session, version_id=world.versions[version], truth=truth, predicted=predicted,
                      with_samples=version != "1.0.0")
    session.commit()
    ids = [world.versions[v] for v in ("1.0.0", "1.1.0", "1.2.0")]
    made = api.post(f"{BASE}/compare", json={"models": ids, "weights": {"performance": 3, "cost_efficiency": 1}},
                    headers=business)
    assert made.status_code == 201, made.text
    doc = made.json()
    perf = next(m for m in doc["metrics"] if m["key"] == "performance")
    assert set(perf["sources"].values()) == {"benchmark.accuracy"}
    block = doc["rankConfidence"]
    assert block["available"] and block["resamples"] == 1000 and block["seed"] == 20261206
    assert block["metrics"] == ["performance"] and block["level"] == 0.95
    assert block["dataset"] == {"datasetId": "dataset_x", "datasetVersion": 1, "split": "test", "rows": 1000}
    assert set(block["sources"]["performance"]) == {world.versions["1.1.0"], world.versions["1.2.0"]}
    assert "before per-row samples were kept" in block["unsampled"][world.versions["1.0.0"]]
    models = {m["modelId"]: m for m in block["models"]}
    best = world.versions["1.1.0"]
    assert doc["recommendations"]["bestOverall"] == best
    assert models[best]["probabilityFirst"] > 0.95 and models[best]["rankInterval"][0] == 1
    assert models[world.versions["1.2.0"]]["rankInterval"][1] == 3
    assert not models[world.versions["1.0.0"]]["resampled"]
    assert all(len(m["scoreInterval"]) == 2 for m in block["models"])
    share = round(100 * models[best]["probabilityFirst"])
    assert f"Churn classifier 1.1.0 ranks first in {share} % of 1,000 bootstrap resamples of the benchmark rows" \
        in doc["insights"]
    assert api.get(f"{BASE}/{doc['id']}", headers=business).json()["rankConfidence"] == block
    # Listings have no benchmark rows: a note, no numbers.
    listings = api.post(f"{BASE}/compare", json={"models": [world.gpt4, world.claude]}, headers=business).json()
    assert listings["rankConfidence"]["available"] is False and listings["rankConfidence"]["models"] == []
    assert "No compared metric takes its value from a benchmark result" in listings["rankConfidence"]["note"]
    schema = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "probabilityFirst" in schema["ModelConfidence"]["properties"]
    assert "rankConfidence" in schema["ComparisonResult"]["properties"]


def test_profiles_change_the_winner(api, business, world):
    trio = [world.gpt4, world.claude, world.llama]
    cheap = api.post(f"{BASE}/compare", json={"models": trio, "profile": "cheapest_good_enough"}, headers=business)
    assert cheap.json()["recommendations"]["bestOverall"] == world.llama
    quality = api.post(f"{BASE}/compare", json={"models": trio, "profile": "best_quality"}, headers=business)
    assert quality.json()["recommendations"]["bestOverall"] == world.claude
    explicit = api.post(f"{BASE}/compare", json={"models": trio, "weights": {"performance": 3, "cost_efficiency": 1}},
                        headers=business).json()
    assert {m["key"]: m["weight"] for m in explicit["metrics"]} == {"performance": 0.75, "cost_efficiency": 0.25}


def test_versions_and_mixed_subjects(api, business, world, auth):
    body = {"models": [{"modelId": world.classifier, "version": "1.0.0"}, world.versions["1.1.0"],
                       world.classifier, world.other, world.llama], "metrics": ["performance", "cost_efficiency"]}
    made = api.post("/api/v1/catalog/models/compare", json=body, headers=business)
    assert made.status_code == 201, made.text
    doc = made.json()
    names = {m["modelId"]: m["modelName"] for m in doc["models"]}
    assert names[world.versions["1.0.0"]] == "Churn classifier 1.0.0"
    perf = next(m for m in doc["metrics"] if m["key"] == "performance")
    # The whole model is its newest version (no production version): 1.2.0 at 0.84.
    assert perf["values"][world.classifier] == 0.84
    assert perf["sources"][world.classifier] == "derived.quality"
    assert perf["values"][world.other] == 0.855
    # The registry's own routes still answer beside the alias.
    assert api.get(f"/api/v1/catalog/models/{world.classifier}", headers=business).status_code == 200


def test_errors(api, business, world):
    error(api.post(f"{BASE}/compare", json={"models": [world.gpt4]}, headers=business), 422, "COMPARE_002")
    eleven = [world.gpt4] + [f"model_{i}" for i in range(10)]
    error(api.post(f"{BASE}/compare", json={"models": eleven}, headers=business), 422, "COMPARE_002")
    error(api.post(f"{BASE}/compare", json={"models": [world.gpt4, world.gpt4]}, headers=business), 422, "COMPARE_002")
    body = error(api.post(f"{BASE}/compare", json={"models": [world.gpt4, "model_nope", "market_model_nope"]},
                          headers=business), 404, "COMPARE_004")
    assert body["details"]["unknown"] == ["model_nope", "market_model_nope"]
    pair = [world.gpt4, world.claude]
    body = error(api.post(f"{BASE}/compare", json={"models": pair, "weights": {"performance": -1}}, headers=business),
                 422, "COMPARE_002")
    assert body["details"]["negative"] == ["performance"]
    error(api.post(f"{BASE}/compare", json={"models": pair, "weights": {"performance": 0}}, headers=business),
          422, "COMPARE_002")
    body = error(api.post(f"{BASE}/compare", json={"models": pair, "weights": {"speed": 1}}, headers=business),
                 422, "COMPARE_003")
    assert body["details"]["unknown"] == ["speed"]
    error(api.post(f"{BASE}/compare", json={"models": pair, "profile": "fastest"}, headers=business), 422, "REQ_001")
    error(api.post(f"{BASE}/compare", json={"models": pair, "profile": "balanced", "weights": {"performance": 1}},
                   headers=business), 422, "REQ_001")
    error(api.get(f"{BASE}/comparison_nope", headers=business), 404, "COMPARE_001")
    error(api.get("/api/v1/catalog/models/compare/comparison_nope", headers=business), 404, "COMPARE_001")
    error(api.post(f"{BASE}/compare", json={"models": pair}), 401, "AUTH_001")


def test_permissions_and_privacy(api, auth, world):
    pair = {"models": [world.gpt4, world.claude]}
    error(api.post(f"{BASE}/compare", json=pair, headers=auth.headers("data_engineer")), 403, "AUTH_002")
    error(api.get(f"{BASE}/metrics", headers=auth.headers("data_engineer")), 403, "AUTH_002")
    mine = api.post(f"{BASE}/compare", json=pair, headers=auth.headers("data_scientist")).json()
    # Another user's comparison is "not found"; an admin reads it.
    error(api.get(f"{BASE}/{mine['id']}", headers=auth.headers("business_user")), 404, "COMPARE_001")
    assert api.get(f"{BASE}/{mine['id']}", headers=auth.headers("admin")).status_code == 200
    error(api.post(f"{BASE}/metrics", json={"key": "speed", "label": "Speed", "sources": ["monitoring.latencyP95Ms"]},
                   headers=auth.headers("business_user")), 403, "AUTH_002")


def test_metric_definitions(api, auth, world):
    scientist = auth.headers("data_scientist")
    listed = api.get(f"{BASE}/metrics", headers=scientist).json()
    assert [m["key"] for m in listed["items"]] == ["performance", "cost_efficiency", "context_size", "capabilities",
                                                   "deployment_flexibility", "reliability"]
    assert all(m["missingPolicy"] == "excluded_and_reported" for m in listed["items"])
    assert [p["key"] for p in listed["profiles"]] == ["balanced", "cheapest_good_enough", "best_quality"]
    made = api.post(f"{BASE}/metrics", json={"key": "model_size", "label": "Model size", "direction": "lower",
                                             "sources": ["model.parameters", "listing.parameterCount"],
                                             "scale": "log", "unit": "parameters"}, headers=scientist)
    assert made.status_code == 201, made.text
    error(api.post(f"{BASE}/metrics", json={"key": "model_size", "label": "Again", "sources": ["model.parameters"]},
                   headers=scientist), 409, "COMPARE_005")
    error(api.post(f"{BASE}/metrics", json={"key": "performance", "label": "Mine", "sources": ["model.parameters"]},
                   headers=scientist), 409, "COMPARE_005")
    error(api.post(f"{BASE}/metrics", json={"key": "bad", "label": "Bad", "sources": ["os.environ"]},
                   headers=scientist), 422, "REQ_001")
    error(api.post(f"{BASE}/metrics", json={"key": "ref", "label": "Ref", "sources": ["model.parameters"],
                                            "normalization": "reference"}, headers=scientist), 422, "REQ_001")
    doc = api.post(f"{BASE}/compare", json={"models": [world.llama, world.gpt4, world.claude],
                                            "weights": {"model_size": 1, "performance": 1}}, headers=scientist).json()
    size = next(m for m in doc["metrics"] if m["key"] == "model_size")
    # Only Llama 2 publishes its size: the only score, and missing (reported) for the two closed models.
    assert size["scores"] == {world.llama: 100.0, world.gpt4: None, world.claude: None}
    assert doc["missing"][world.gpt4] == ["model_size"]


def test_scoring(api, auth, world):
    scientist = auth.headers("data_scientist")
    calc = api.post("/api/v1/scoring/calculate", json={"models": [world.gpt4, world.claude, world.llama],
                                                       "profile": "best_quality"}, headers=scientist)
    assert calc.status_code == 200, calc.text
    items = calc.json()["items"]
    assert [i["subjectId"] for i in items][0] == world.claude and items[0]["rank"] == 1
    custom = api.post("/api/v1/scoring/custom", json={
        "models": [world.gpt4, world.claude, world.llama, world.other],
        "formula": "0.5 * performance + 0.5 * min(cost_efficiency, 100) + 0 * raw.context_size"}, headers=scientist)
    assert custom.status_code == 200, custom.text
    scored = {i["subjectId"]: i["score"] for i in custom.json()["items"]}
    assert scored[world.other] is None and custom.json()["missing"][world.other] == ["context_size"]
    assert scored[world.llama] == pytest.approx(0.5 * 68.9 + 0.5 * 100, abs=0.051)
    error(api.post("/api/v1/scoring/custom", json={"models": [world.gpt4], "formula": "__import__('os')"},
                   headers=scientist), 422, "COMPARE_006")
    error(api.post("/api/v1/scoring/custom", json={"models": [world.gpt4], "formula": "performance +"},
                   headers=scientist), 422, "COMPARE_006")
    error(api.post("/api/v1/scoring/custom", json={"models": [world.gpt4], "formula": "speed * 2"},
                   headers=scientist), 422, "COMPARE_003")
    got = api.get(f"/api/v1/scoring/{world.llama}", headers=scientist).json()
    assert got["rawValues"]["context_size"] == 4096 and len(got["history"]) == 2
    assert got["sources"]["performance"] == "derived.quality"
    error(api.get("/api/v1/scoring/model_nope", headers=scientist), 404, "COMPARE_001")
    ranks = api.get("/api/v1/scoring/rankings", params={"type": "Tabular"}, headers=scientist).json()
    assert {i["modelId"] for i in ranks["items"]} == {world.classifier, world.other}
    error(api.get("/api/v1/scoring/rankings", params={"profile": "nope"}, headers=scientist), 422, "COMPARE_002")


def test_analysis(api, auth, world):
    business = auth.headers("business_user")
    perf = api.get(f"/api/v1/analysis/performance/{world.classifier}", headers=business)
    assert perf.status_code == 200, perf.text
    body = perf.json()
    assert [v["version"] for v in body["versions"]] == ["1.0.0", "1.1.0", "1.2.0"]
    accuracy = next(t for t in body["trends"] if t["key"] == "accuracy")
    assert accuracy["bestVersion"] == "1.1.0" and accuracy["change"] == pytest.approx(0.03)
    assert body["regressions"] == ["accuracy got lower from 1.1.0 to 1.2.0: 0.86 → 0.84"]
    error(api.get("/api/v1/analysis/performance/model_nope", headers=business), 404, "MODEL_001")
    cost = api.post("/api/v1/analysis/cost-efficiency", json={"models": [world.gpt4, world.claude, world.llama]},
                    headers=business).json()
    assert cost["paretoFront"] == [world.claude, world.llama]
    assert {p["modelId"]: p["costPerThousandPredictions"] for p in cost["points"]}[world.gpt4] == 37.5
    error(api.post("/api/v1/analysis/cost-efficiency", json={"models": [world.gpt4], "qualityMetric": "nope"},
                   headers=business), 422, "COMPARE_003")
    found = api.get("/api/v1/analysis/insights", headers=business).json()["items"]
    kinds = {(i["kind"], i["modelId"]) for i in found}
    assert ("regression", world.classifier) in kinds
    # The free baseline is within 1 point of the classifier's 0.84 (it is better) -> no "cheaper" line for it;
    # the classifier costs more and is 1.5 points worse: no line either.
    assert not any(i["kind"] == "cheaper_alternative" and i["modelId"] == world.classifier for i in found)
    error(api.get("/api/v1/analysis/insights", headers=auth.headers("data_engineer")), 403, "AUTH_002")


def test_benchmark_results_come_first(api, business, world, monkeypatch):
    """Measured figures (the benchmarks domain's newest results per version) beat logged or declared ones."""
    import backend.benchmarks.service as benchmarks

    seen = []

    def latest_results(session, *, version_ids):
        seen.append(sorted(version_ids))
        return {world.versions["1.0.0"]: {"accuracy": 0.9, "latency_p95_ms": 3.5}}

    monkeypatch.setattr(benchmarks, "latest_results", latest_results)
    doc = api.post(f"{BASE}/compare", json={"models": [world.versions["1.0.0"], world.versions["1.1.0"]],
                                            "metrics": ["performance"]}, headers=business).json()
    perf = doc["metrics"][0]
    assert perf["sources"] == {world.versions["1.0.0"]: "benchmark.accuracy", world.versions["1.1.0"]: "derived.quality"}
    assert perf["scores"] == {world.versions["1.0.0"]: 90.0, world.versions["1.1.0"]: 86.0}
    assert seen == [sorted([world.versions["1.0.0"], world.versions["1.1.0"]])]
    analysis = api.get(f"/api/v1/analysis/performance/{world.classifier}", headers=business).json()
    assert analysis["versions"][0]["benchmark"] == {"accuracy": 0.9, "latency_p95_ms": 3.5}
