"""The model registry pages' states without a browser: signed-out and unpermitted callers are refused,
forms check the service's rules, and an ML engineer can register, version, upload, promote and roll back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reflex.istate.data import ReflexURL, RouterData
from reflex_components_core.core._upload import UploadChunk

from aisystem_app import routes
from aisystem_app.state.catalog.models import view
from aisystem_app.state.catalog.models.detail import ModelDetailState
from aisystem_app.state.catalog.models.index import ModelsState
from backend.auth.principal import SYSTEM
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.db import session_scope
from backend.core.pagination import PageParams
from tests.aisystem_app.conftest import follow, navigation, signed_in_as
from tests.aisystem_app.test_state_security import as_list, redirects_to

MODEL_FORM = {"name": "Ticket Triage", "type": "NLP", "category": "Text Classification", "framework": "PyTorch",
              "tags": "nlp, support", "description": "Routes support tickets.", "license": "mit"}


@pytest.fixture(autouse=True)
def no_broker(sent) -> None:
    """Embedding jobs are recorded, not sent: these tests run no worker."""


def weights() -> bytes:
    from safetensors.numpy import save

    return save({"w": np.ones((4, 4), dtype=np.float32)})


@pytest.fixture
def model_id(demo_users) -> str:
    """A registered model with versions 1.0.0 and 1.1.0 (metrics, no artifacts yet)."""
    from backend.auth.principal import Principal

    actor = Principal(user_id=demo_users["ml_engineer"], username="ml_engineer", role="ml_engineer")
    with session_scope() as session:
        model = registry.create_model(session=session, actor=actor, data=ModelCreate.model_validate(
            {"name": "Churn Predictor", "type": "Tabular", "category": "Classification", "framework": "XGBoost"}))
        for number, accuracy in (("1.0.0", 0.88), ("1.1.0", 0.91)):
            registry.create_version(session=session, actor=actor, model_id=model.id, data=VersionCreate(
                version=number, metrics={"accuracy": accuracy, "latencyMs": 12.0}))
        return model.id


def at(state, url: str) -> None:  # noqa: ANN001
    state.router = RouterData(url=ReflexURL(f"http://testserver{url}"))


async def detail_for(root, user_id: str | None, model_id: str) -> ModelDetailState:  # noqa: ANN001
    await signed_in_as(root, user_id)
    state = await root.get_state(ModelDetailState)
    at(state, view.model_href(model_id))
    return state


def stages(model_id: str) -> dict[str, str]:
    with session_scope() as session:
        rows, _ = registry.list_versions(session=session, actor=SYSTEM, model_id=model_id, params=PageParams(limit=50))
        return {r.version: r.stage for r in rows}


async def chunks_of(*files: tuple[str, bytes]):
    for name, data in files:
        for offset in range(0, len(data), 100):
            yield UploadChunk(filename=name, offset=offset, content_type="application/octet-stream",
                              data=data[offset:offset + 100])


# --- who may do what -------------------------------------------------------------------------------------


def test_no_setters_and_no_private_handlers() -> None:
    for state_cls in (ModelsState, ModelDetailState):
        assert not any(name.startswith(("_", "set_")) for name in state_cls.event_handlers)
    assert "_history_cursor" not in ModelDetailState.base_vars


@pytest.mark.anyio
async def test_signed_out_tabs_are_sent_to_login(root_state, model_id) -> None:
    await signed_in_as(root_state, None)
    listing = await root_state.get_state(ModelsState)
    assert redirects_to(as_list(await ModelsState.load.fn(listing)), routes.LOGIN)
    detail = await detail_for(root_state, None, model_id)
    assert redirects_to(as_list(await ModelDetailState.load.fn(detail)), routes.LOGIN)
    detail.move_version, detail.move_stage, detail.model_key = "1.0.0", "staging", model_id
    assert redirects_to(as_list(await ModelDetailState.confirm_move.fn(detail, {"reason": "forged"})), routes.LOGIN)
    assert stages(model_id) == {"1.0.0": "none", "1.1.0": "none"}


@pytest.mark.anyio
async def test_business_user_reads_but_cannot_promote_or_register(root_state, demo_users, model_id) -> None:
    detail = await detail_for(root_state, demo_users["business_user"], model_id)
    assert not as_list(await ModelDetailState.load.fn(detail))
    assert detail.found and detail.name == "Churn Predictor"
    assert not (detail.can_promote or detail.can_write or detail.can_create or detail.can_rollback)
    assert all(v.moves == [] for v in detail.versions)

    # A forged promotion over the websocket is refused by the permission check.
    ModelDetailState.ask_promote.fn(detail, "1.0.0", "staging")
    events = as_list(await ModelDetailState.confirm_move.fn(detail, {"reason": "forged"}))
    assert events and not redirects_to(events, routes.LOGIN)
    assert stages(model_id)["1.0.0"] == "none"

    listing = await root_state.get_state(ModelsState)
    assert not as_list(await ModelsState.load.fn(listing))
    assert [r["name"] for r in listing.rows] == ["Churn Predictor"] and not listing.can_create
    await ModelsState.register.fn(listing, MODEL_FORM)
    with session_scope() as session:
        rows, _ = registry.list_models(session=session, actor=SYSTEM, params=PageParams(limit=10))
    assert [m.name for m in rows] == ["Churn Predictor"]


@pytest.mark.anyio
async def test_data_scientist_cannot_upload(root_state, demo_users, model_id) -> None:
    detail = await detail_for(root_state, demo_users["data_scientist"], model_id)
    await ModelDetailState.load.fn(detail)
    ModelDetailState.open_upload.fn(detail, "1.0.0")
    events = as_list(await ModelDetailState.upload_artifact.fn(detail, chunks_of(("w.safetensors", weights()))))
    assert events and not detail.uploading
    assert not any(v.has_artifact for v in detail.versions)


# --- the list -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_filters_and_keyword_search(root_state, demo_users, model_id) -> None:
    await signed_in_as(root_state, demo_users["data_scientist"])
    listing = await root_state.get_state(ModelsState)
    at(listing, routes.MODELS)
    await ModelsState.load.fn(listing)
    assert listing.counts["type:Tabular"] == 1 and listing.counts["type:Vision"] == 0
    assert await follow(listing, ModelsState.toggle_filter.fn(listing, "type", "Vision")) == (
        f"{routes.MODELS}?type=Vision", False)
    assert listing.rows == [] and listing.filters == {"type": "Vision"}
    assert listing.counts["type:Tabular"] == 1  # the type chips still count the other types
    await follow(listing, ModelsState.toggle_filter.fn(listing, "type", "Vision"))
    assert [r["id"] for r in listing.rows] == [model_id] and listing.router.url.query == ""
    assert ModelsState.toggle_filter.fn(listing, "owner", "x") is None  # unknown keys are ignored
    await follow(listing, ModelsState.search.fn(listing, {"q": "sentiment"}))
    assert listing.rows == [] and listing.counts["type:Tabular"] == 0  # the chips count the search's matches
    await follow(listing, ModelsState.search.fn(listing, {"q": "churn"}))
    assert [r["name"] for r in listing.rows] == ["Churn Predictor"] and listing.counts["type:Tabular"] == 1
    await follow(listing, ModelsState.toggle_filter.fn(listing, "type", "Vision"))  # the search keeps only Vision
    assert listing.rows == [] and listing.query == "churn"
    await follow(listing, ModelsState.toggle_filter.fn(listing, "type", "Vision"))
    await follow(listing, ModelsState.choose_sort.fn(listing, "'; drop table"))
    assert listing.sort == "-createdAt" and "sort" not in listing.router.url.query


@pytest.mark.anyio
async def test_the_url_restores_the_list(root_state, demo_users, model_id) -> None:
    await signed_in_as(root_state, demo_users["data_scientist"])
    listing = await root_state.get_state(ModelsState)
    at(listing, f"{routes.MODELS}?q=churn&mode=semantic&type=Tabular&sort=name&owner=x")
    await ModelsState.load.fn(listing)
    assert (listing.query, listing.mode, listing.filters, listing.sort) == (
        "churn", "semantic", {"type": "Tabular"}, "name")
    assert [r["id"] for r in listing.rows] == [model_id]
    path, replace = navigation(ModelsState.choose_mode.fn(listing, "keyword"))
    assert path == f"{routes.MODELS}?q=churn&type=Tabular&sort=name" and not replace
    at(listing, f"{routes.MODELS}?mode=bogus&sort=bogus")
    await ModelsState.load.fn(listing)
    assert (listing.mode, listing.sort, listing.query) == ("keyword", "-createdAt", "")


@pytest.mark.anyio
async def test_the_url_names_the_model_tab(root_state, demo_users, model_id) -> None:
    detail = await detail_for(root_state, demo_users["data_scientist"], model_id)
    await ModelDetailState.load.fn(detail)
    assert detail.tab == "overview"
    path, replace = await follow(detail, ModelDetailState.choose_tab.fn(detail, "versions"))
    assert path == f"{view.model_href(model_id)}?tab=versions" and not replace  # a history entry: back works
    assert detail.tab == "versions" and detail.found
    assert ModelDetailState.choose_tab.fn(detail, "secrets") is None
    at(detail, f"{view.model_href(model_id)}?tab=history")  # a reload or a shared link
    await ModelDetailState.load.fn(detail)
    assert detail.tab == "history" and detail.name == "Churn Predictor"


# --- forms ----------------------------------------------------------------------------------------------------


def test_model_form_names_the_fields_at_fault() -> None:
    errors, data = view.model_form({"name": "../etc", "type": "", "category": "", "framework": "PyTorch",
                                    "documentation": "javascript:alert(1)", "tags": "Bad Tag!"})
    assert data is None
    assert set(errors) >= {"name", "type", "category", "documentation", "tags"}
    assert errors["type"] == "Required"
    errors, data = view.model_form(MODEL_FORM)
    assert not errors and data.metadata.license == "MIT" and data.metadata.tags == ["nlp", "support"]


def test_version_form_reads_pairs_and_checks_semver() -> None:
    errors, data = view.version_form({"version": "1.0", "metrics": "accuracy"})
    assert data is None and "version" in errors and "metrics" in errors
    errors, data = view.version_form({"version": "1.2.0", "metrics": "accuracy=0.9\nf1Score=0.8",
                                      "hyperparameters": '{"epochs": 3}', "datasets": "dataset_1@2.0.0"})
    assert not errors and data.metrics == {"accuracy": 0.9, "f1Score": 0.8}
    assert data.source.datasets[0].version == "2.0.0" and data.hyperparameters == {"epochs": 3.0}


# --- the whole flow --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_engineer_registers_uploads_promotes_and_rolls_back(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["ml_engineer"])
    listing = await root_state.get_state(ModelsState)
    await ModelsState.load.fn(listing)
    assert listing.can_create
    await ModelsState.register.fn(listing, {**MODEL_FORM, "name": ""})
    assert listing.register_errors == {"name": "Required"}
    events = as_list(await ModelsState.register.fn(listing, MODEL_FORM))
    assert not listing.register_errors and len(events) == 2
    assert not as_list(await ModelsState.register.fn(listing, MODEL_FORM))  # the same name again
    assert listing.register_errors == {"name": "A model with this name exists already"}
    with session_scope() as session:
        model_id = registry.list_models(session=session, actor=SYSTEM, params=PageParams(limit=5))[0][0].id

    detail = await detail_for(root_state, demo_users["ml_engineer"], model_id)
    await ModelDetailState.load.fn(detail)
    for number in ("1.0.0", "1.1.0"):
        await ModelDetailState.add_version.fn(detail, {"version": number, "metrics": f"accuracy=0.9{number[2]}"})
    assert [v.version for v in detail.versions] == ["1.1.0", "1.0.0"] and detail.has_scores

    # Production needs an artifact: the service's reason is shown.
    ModelDetailState.ask_promote.fn(detail, "1.0.0", "production")
    events = as_list(await ModelDetailState.confirm_move.fn(detail, {"reason": "first"}))
    assert "no artifact" in str(events[0].args)

    config = json.dumps({"arch": "mlp"}).encode()
    for number in ("1.0.0", "1.1.0"):
        ModelDetailState.open_upload.fn(detail, number)
        await ModelDetailState.upload_artifact.fn(detail, chunks_of(("w.safetensors", weights()),
                                                                    ("config.json", config)))
    assert all(v.has_artifact and v.integrity == "ok" for v in detail.versions)

    for number in ("1.0.0", "1.1.0"):
        ModelDetailState.ask_promote.fn(detail, number, "production")
        await ModelDetailState.confirm_move.fn(detail, {"reason": f"ship {number}"})
    assert detail.production == "1.1.0" and detail.can_rollback
    ModelDetailState.ask_rollback.fn(detail)
    await ModelDetailState.confirm_move.fn(detail, {"reason": "latency regression"})
    assert detail.production == "1.0.0" and stages(model_id) == {"1.0.0": "production", "1.1.0": "archived"}
    moves = [(h["version"], h["stage"], h["action"]) for h in detail.history]
    assert moves[:2] == [("1.0.0", "production", "rollback"), ("1.1.0", "archived", "rollback")]
    assert ("1.1.0", "production", "promote") in moves
    assert any(h["reason"] == "latency regression" for h in detail.history)


@pytest.mark.anyio
async def test_refused_uploads_leave_no_temp_file(root_state, demo_users, model_id) -> None:
    from backend.catalog.model_registry import artifacts

    detail = await detail_for(root_state, demo_users["ml_engineer"], model_id)
    await ModelDetailState.load.fn(detail)
    ModelDetailState.open_upload.fn(detail, "1.0.0")
    for files in ([("w.safetensors", weights())],  # no config
                  [("a.bin", b"x"), ("b.bin", b"y")],  # two model files
                  [("model.pkl", b"\x80\x04K\x01.")]):  # a pickle
        events = as_list(await ModelDetailState.upload_artifact.fn(detail, chunks_of(*files)))
        assert events and not detail.uploading
    assert not any(artifacts.temp_root().glob("*"))
    assert not any(v.has_artifact for v in detail.versions)


# --- what the pages say about searches, artifacts and metrics -----------------------------------------------


@pytest.fixture
def catalog(demo_users, model_id, monkeypatch):
    """Four more models beside the churn predictor, embedded with the test encoder (a word in common
    is a match; see tests/backend/catalog/model_registry/conftest.py)."""
    from backend.auth.principal import Principal
    from backend.catalog.model_registry import search
    from tests.backend.catalog.model_registry.conftest import use_fake_encoder

    actor = Principal(user_id=demo_users["ml_engineer"], username="ml_engineer", role="ml_engineer")
    models = [("Customer Sentiment Analyzer", "NLP", "Reads customer e-mails and tells whether they are angry."),
              ("Ticket Router", "NLP", "Routes support tickets to a team."),
              ("Defect Detector", "Vision", "Spots scratches on photos."),
              ("Call Transcriber", "Speech", "Transcribes phone calls.")]
    use_fake_encoder(monkeypatch)
    with session_scope() as session:
        registry.update_model(session=session, actor=actor, model_id=model_id, data=registry.ModelUpdate.model_validate(
            {"metadata": {"description": "Predicts which customers cancel.", "tags": ["customer"]}}))
        ids = [registry.create_model(session=session, actor=actor, data=ModelCreate.model_validate(
            {"name": name, "type": kind, "category": "Demo", "framework": "PyTorch",
             "metadata": {"description": text}})).id for name, kind, text in models]
        search.embed_models(session=session, model_ids=[model_id, *ids])
    yield
    search.set_encoder(None)


@pytest.mark.anyio
async def test_a_semantic_search_shows_scores_its_cut_off_and_counts_its_results(root_state, demo_users,
                                                                                 catalog) -> None:
    await signed_in_as(root_state, demo_users["business_user"])
    listing = await root_state.get_state(ModelsState)
    at(listing, f"{routes.MODELS}?q=customer&mode=semantic&sort=name")
    await ModelsState.load.fn(listing)
    assert [r["name"] for r in listing.rows] == ["Customer Sentiment Analyzer", "Churn Predictor"]
    scores = [float(r["score"]) for r in listing.rows]
    assert listing.scored and scores == sorted(scores, reverse=True) and all(0 < x <= 1 for x in scores)
    assert all(len(r["score"]) == 4 for r in listing.rows)  # two decimals: 0.56
    # The chips count the results, not the catalog: three of the five models were left out.
    assert (listing.counts["type:NLP"], listing.counts["type:Tabular"], listing.counts["type:Vision"]) == (1, 1, 0)
    assert listing.summary.startswith("2 models by meaning, most similar first: similarity at least 0.05")
    assert listing.summary.endswith("3 less similar models left out.")
    assert listing.sort_shown == "relevance" and listing.sort == "name"  # the URL's sort waits for browsing
    await follow(listing, ModelsState.toggle_filter.fn(listing, "type", "Tabular"))
    assert [r["name"] for r in listing.rows] == ["Churn Predictor"] and listing.counts["type:NLP"] == 1
    await follow(listing, ModelsState.clear.fn(listing))
    assert listing.sort_shown == "name" and not listing.scored and listing.summary == ""
    assert len(listing.rows) == 5 and listing.counts["type:NLP"] == 2


@pytest.mark.anyio
async def test_a_keyword_search_says_how_many_match(root_state, demo_users, catalog) -> None:
    await signed_in_as(root_state, demo_users["business_user"])
    listing = await root_state.get_state(ModelsState)
    at(listing, f"{routes.MODELS}?q=customer")
    await ModelsState.load.fn(listing)
    assert listing.summary == "2 models match every word, best match first." and not listing.scored
    assert listing.sort_shown == "relevance" and all(r["score"] == "" for r in listing.rows)


@pytest.mark.anyio
async def test_version_cards_show_parameters_the_declared_count_and_opaque_files(root_state, demo_users,
                                                                                 model_id) -> None:
    import torch
    from safetensors.torch import save

    from backend.auth.principal import Principal

    actor = Principal(user_id=demo_users["ml_engineer"], username="ml_engineer", role="ml_engineer")
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    with session_scope() as session:
        registry.update_model(session=session, actor=actor, model_id=model_id,
                              data=registry.ModelUpdate(parameters=51))
        registry.store_artifact(session=session, actor=actor, model_id=model_id, version="1.0.0",
                                chunks=[save(net.state_dict(), metadata={"config": "{}"})], file_name="w.safetensors")
        registry.store_artifact(session=session, actor=actor, model_id=model_id, version="1.1.0",
                                chunks=[b"GGUF\x03\x00external"], file_name="model.gguf", declared_format="opaque")
    detail = await detail_for(root_state, demo_users["business_user"], model_id)
    await ModelDetailState.load.fn(detail)
    cards = {v.version: v for v in detail.versions}
    assert sum(p.numel() for p in net.parameters()) == 34
    assert cards["1.0.0"].parameters.startswith("34 parameters (not counting 17 buffer values")
    assert cards["1.0.0"].declared == "the model declares 51" and cards["1.0.0"].notice == ""
    assert cards["1.1.0"].artifact.startswith("Opaque file · ") and "never loaded" in cards["1.1.0"].notice
    assert cards["1.1.0"].parameters == "" and cards["1.1.0"].declared == ""


@pytest.mark.anyio
async def test_the_score_chart_axis_and_caption_agree_with_the_data(root_state, demo_users, model_id) -> None:
    detail = await detail_for(root_state, demo_users["business_user"], model_id)
    await ModelDetailState.load.fn(detail)
    assert detail.has_scores and detail.has_others
    axis = detail.score_chart.layout.yaxis
    assert tuple(axis.range) == (0.85, 0.95) and axis.title.text == "Score"  # accuracy 0.88 and 0.91
    assert detail.score_caption == "Accuracy: scores between 0 and 1. The axis shows 0.85 to 0.95."
    assert detail.other_caption.startswith("Latency (ms)")
    assert detail.other_chart.layout.yaxis.range is None  # other metrics keep their own scale
    assert detail.other_chart.layout.yaxis.title.text == "Latency (ms)"  # the only other metric names the axis


def test_the_score_axis_never_leaves_zero_to_one() -> None:
    assert view.score_range([0.981]) == (0.95, 1.0)  # one version: not a 0.5-1.5 axis around it
    assert view.score_range([0.0, 1.0]) == (0.0, 1.0)
    assert view.score_range([0.902, 0.945]) == (0.85, 1.0)
    assert view.score_range([0.3]) == (0.25, 0.35)
