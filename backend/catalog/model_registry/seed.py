"""Demo models for a first run: 32 models across NLP, vision, tabular, speech and generative work,
with versions, a production version (with a real, tiny safetensors artifact), stage history,
lineage and activity, so the catalog pages and the trending/recommended lists are alive.

DEMO DATA. Every metric, latency, price and activity count below is an illustrative value chosen
to look plausible; none was measured. The artifacts are genuine safetensors files of a few
kilobytes with seeded random weights: real files in the platform's format, not trained models.
Version notes say so in the UI too. Running the step again adds only what is missing.

Lineage links only what exists: the models whose training data one of the demo datasets plausibly
is (TRAINED_ON) name that dataset, when the datasets step has created it, and each of their versions
derives from its first version; no other demo model names a dataset, and none names a run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import numpy as np
from sqlmodel import Session, col, select

from backend.auth.models import User
from backend.auth.principal import SYSTEM, Principal
from backend.catalog.datasets.models import Dataset
from backend.catalog.model_registry import service
from backend.catalog.model_registry.models import RegisteredModel
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.timeutil import utcnow

DEMO_NOTE = "Demo data: metrics are illustrative values, not measurements; the weights are random."

# (name, type, category, framework, architecture, parameters, context, capabilities, tags, license,
#  description, dataset, versions [(version, accuracy, f1, p95 ms)], production version index)
MODELS = [
    ("Customer Sentiment Analyzer", "NLP", "Natural Language Processing", "PyTorch", "Transformer-based",
     125_000_000, 512, ["sentiment_analysis", "emotion_detection", "aspect_extraction"],
     ["nlp", "sentiment", "customer", "production"], "Apache-2.0",
     "Reads customer emails, reviews and support tickets and tells whether the customer is happy, neutral or "
     "angry, with the emotions and product aspects behind it.", "dataset_customer_feedback",
     [("1.0.0", 0.902, 0.895, 140), ("2.0.0", 0.931, 0.925, 125), ("2.1.0", 0.945, 0.930, 120)], 2),
    ("Support Ticket Router", "NLP", "Text Classification", "PyTorch", "DistilBERT",
     66_000_000, 512, ["text_classification", "intent_detection"], ["nlp", "support", "routing"], "MIT",
     "Classifies incoming support tickets by product area and urgency and routes them to the right queue.",
     "dataset_support_tickets", [("1.0.0", 0.874, 0.861, 38), ("1.1.0", 0.889, 0.880, 35)], 1),
    ("Contract Clause Extractor", "NLP", "Information Extraction", "PyTorch", "Longformer",
     148_000_000, 4096, ["named_entity_recognition", "clause_extraction"], ["nlp", "legal", "documents"],
     "Apache-2.0", "Finds parties, dates, amounts, termination and liability clauses in contracts.",
     "dataset_contracts", [("0.9.0", 0.812, 0.798, 420), ("1.0.0", 0.846, 0.833, 390)], 1),
    ("Multilingual Language Detector", "NLP", "Text Classification", "scikit-learn", "Character n-gram logistic regression",
     2_400_000, None, ["language_identification"], ["nlp", "multilingual", "preprocessing"], "BSD-3-Clause",
     "Identifies the language of a text among 97 languages from character n-grams.", "dataset_wiki_langid",
     [("1.0.0", 0.981, 0.979, 2)], 0),
    ("News Topic Classifier", "NLP", "Text Classification", "TensorFlow", "BERT-base",
     110_000_000, 512, ["topic_classification"], ["nlp", "news", "media"], "Apache-2.0",
     "Assigns news articles to topics such as politics, sport, business, science and culture.",
     "dataset_news_corpus", [("1.0.0", 0.915, 0.912, 60), ("1.1.0", 0.921, 0.918, 58), ("1.2.0", 0.918, 0.915, 55)], 1),
    ("Toxic Comment Filter", "NLP", "Content Moderation", "PyTorch", "RoBERTa-base",
     125_000_000, 512, ["toxicity_detection", "content_moderation"], ["nlp", "moderation", "safety"], "MIT",
     "Flags insults, threats and hate speech in user comments before they are published.",
     "dataset_comments_moderation", [("1.0.0", 0.934, 0.871, 45), ("1.0.1", 0.936, 0.876, 44)], 1),
    ("Product Defect Detector", "Vision", "Computer Vision", "PyTorch", "ResNet-50",
     25_600_000, None, ["image_classification", "defect_detection"], ["vision", "manufacturing", "quality"],
     "Apache-2.0", "Spots scratches, dents and misalignments on assembly-line photos of products.",
     "dataset_assembly_images", [("1.0.0", 0.952, 0.944, 18), ("1.1.0", 0.963, 0.957, 17)], 1),
    ("Retail Shelf Object Detector", "Vision", "Object Detection", "PyTorch", "YOLOv8-m",
     25_900_000, None, ["object_detection", "product_counting"], ["vision", "retail", "detection"], "AGPL-3.0",
     "Detects and counts products on store shelves to find empty facings and misplaced items.",
     "dataset_shelf_images", [("1.0.0", 0.781, 0.770, 32), ("2.0.0", 0.823, 0.811, 29)], 1),
    ("Medical X-ray Triage", "Vision", "Medical Imaging", "PyTorch", "DenseNet-121",
     8_000_000, None, ["image_classification", "anomaly_detection"], ["vision", "healthcare", "radiology"],
     "CC-BY-NC-4.0", "Prioritises chest X-rays that likely show pneumonia or effusion for radiologist review.",
     "dataset_chest_xray", [("0.1.0", 0.871, 0.842, 55), ("0.2.0", 0.889, 0.861, 52)], 1),
    ("Satellite Land Cover Segmenter", "Vision", "Semantic Segmentation", "PyTorch", "U-Net",
     31_000_000, None, ["semantic_segmentation", "land_cover"], ["vision", "geospatial", "segmentation"],
     "MIT", "Labels every pixel of satellite tiles as water, forest, crop, urban or bare soil.",
     "dataset_sentinel_tiles", [("1.0.0", 0.864, 0.851, 210)], 0),
    ("Face Blur Anonymizer", "Vision", "Privacy", "ONNX", "RetinaFace + Gaussian blur",
     1_700_000, None, ["face_detection", "anonymization"], ["vision", "privacy", "gdpr"], "MIT",
     "Detects faces and licence plates in images and video frames and blurs them before storage.",
     "dataset_faces_plates", [("1.0.0", 0.973, 0.965, 12)], 0),
    ("Invoice Layout Parser", "Vision", "Document AI", "PyTorch", "LayoutLMv3",
     133_000_000, 512, ["document_parsing", "key_value_extraction"], ["vision", "documents", "finance"],
     "CC-BY-NC-SA-4.0", "Reads scanned invoices and extracts supplier, totals, tax and line items.",
     "dataset_invoices", [("1.0.0", 0.902, 0.889, 310), ("1.1.0", 0.917, 0.905, 300)], 1),
    ("Customer Churn Predictor", "Tabular", "Classification", "XGBoost", "Gradient boosted trees",
     180_000, None, ["churn_prediction", "risk_scoring"], ["tabular", "customer", "retention"], "Proprietary",
     "Predicts which subscribers are likely to cancel in the next 30 days from usage and billing history.",
     "dataset_subscriber_history", [("1.0.0", 0.861, 0.742, 4), ("1.1.0", 0.874, 0.763, 4), ("2.0.0", 0.882, 0.779, 5)], 2),
    ("Credit Default Risk Scorer", "Tabular", "Risk Modelling", "LightGBM", "Gradient boosted trees",
     240_000, None, ["risk_scoring", "credit_scoring"], ["tabular", "finance", "risk"], "Proprietary",
     "Scores the probability that a loan applicant defaults within 12 months.", "dataset_loan_applications",
     [("3.0.0", 0.912, 0.684, 3), ("3.1.0", 0.917, 0.693, 3)], 1),
    ("Card Fraud Detector", "Tabular", "Anomaly Detection", "PyTorch", "Tabular transformer",
     4_200_000, None, ["fraud_detection", "anomaly_detection"], ["tabular", "finance", "fraud", "realtime"],
     "Proprietary", "Flags card transactions that look fraudulent within milliseconds of authorisation.",
     "dataset_card_transactions", [("1.0.0", 0.991, 0.812, 7), ("1.1.0", 0.993, 0.836, 7)], 1),
    ("Retail Demand Forecaster", "TimeSeries", "Forecasting", "PyTorch", "Temporal Fusion Transformer",
     2_600_000, None, ["demand_forecasting", "time_series_forecasting"], ["tabular", "retail", "forecasting"],
     "Apache-2.0", "Forecasts daily demand per product and store for the next eight weeks.",
     "dataset_store_sales", [("1.0.0", 0.781, 0.770, 90), ("1.1.0", 0.806, 0.795, 88)], 1),
    ("House Price Estimator", "Tabular", "Regression", "scikit-learn", "Random forest",
     950_000, None, ["price_estimation", "regression"], ["tabular", "real-estate"], "MIT",
     "Estimates property sale prices from location, size, age and amenities.", "dataset_property_sales",
     [("1.0.0", 0.842, 0.842, 6)], 0),
    ("Predictive Maintenance Model", "Tabular", "Anomaly Detection", "XGBoost", "Gradient boosted trees",
     310_000, None, ["failure_prediction", "anomaly_detection"], ["tabular", "manufacturing", "iot"],
     "Apache-2.0", "Predicts machine failures a week ahead from vibration, temperature and load sensors.",
     "dataset_sensor_telemetry", [("1.0.0", 0.887, 0.701, 5), ("1.1.0", 0.903, 0.732, 5)], 1),
    ("Product Recommender", "Recommendation", "Recommender Systems", "PyTorch", "Two-tower retrieval",
     48_000_000, None, ["recommendation", "personalization"], ["recommendation", "retail", "personalization"],
     "Apache-2.0", "Suggests products a shopper is likely to buy next from their browsing and purchases.",
     "dataset_clickstream", [("1.0.0", 0.312, 0.290, 25), ("1.1.0", 0.334, 0.311, 24)], 1),
    ("Call Center Speech Recognizer", "Speech", "Speech Recognition", "PyTorch", "Conformer-CTC",
     120_000_000, None, ["speech_recognition", "transcription"], ["speech", "asr", "call-center"], "Apache-2.0",
     "Transcribes phone calls in English and Spanish, robust to line noise and hold music.",
     "dataset_call_recordings", [("1.0.0", 0.884, 0.884, 380), ("1.1.0", 0.902, 0.902, 350)], 1),
    ("Speaker Diarizer", "Speech", "Speaker Diarization", "PyTorch", "ECAPA-TDNN + clustering",
     20_000_000, None, ["speaker_diarization", "speaker_embedding"], ["speech", "meetings"], "MIT",
     "Works out who spoke when in meeting and call recordings.", "dataset_meeting_audio",
     [("1.0.0", 0.861, 0.855, 510)], 0),
    ("Keyword Spotter", "Speech", "Audio Classification", "TensorFlow", "DS-CNN",
     500_000, None, ["keyword_spotting", "wake_word"], ["speech", "edge", "embedded"], "Apache-2.0",
     "Detects a small vocabulary of voice commands on-device with a tiny footprint.",
     "dataset_speech_commands", [("1.0.0", 0.951, 0.949, 3), ("1.1.0", 0.958, 0.956, 3)], 1),
    ("Neural Text-to-Speech Voice", "Speech", "Speech Synthesis", "PyTorch", "VITS",
     36_000_000, None, ["text_to_speech", "voice_synthesis"], ["speech", "tts", "generative"], "MIT",
     "Turns text into natural speech for IVR prompts and accessibility features.", "dataset_voice_studio",
     [("1.0.0", 0.0, 0.0, 160)], 0),
    ("Audio Event Classifier", "Speech", "Audio Classification", "PyTorch", "PANNs CNN14",
     80_000_000, None, ["audio_classification", "sound_event_detection"], ["speech", "audio", "monitoring"],
     "MIT", "Recognises sounds such as glass breaking, alarms, dogs barking and machinery faults.",
     "dataset_audio_events", [("1.0.0", 0.812, 0.798, 40)], 0),
    ("Internal Knowledge Assistant", "Generative", "Large Language Model", "PyTorch", "Decoder-only transformer",
     7_000_000_000, 8192, ["text_generation", "question_answering", "summarization"],
     ["generative", "llm", "rag", "assistant"], "Llama-2",
     "Answers employee questions from internal documentation with citations, via retrieval-augmented generation.",
     "dataset_internal_docs", [("1.0.0", 0.712, 0.690, 900), ("1.1.0", 0.748, 0.731, 850)], 1),
    ("Code Review Assistant", "Generative", "Code Generation", "PyTorch", "Decoder-only transformer",
     3_000_000_000, 16384, ["code_generation", "code_review"], ["generative", "code", "developer-tools"],
     "Apache-2.0", "Suggests fixes and explains issues in pull requests for Python and TypeScript.",
     "dataset_code_reviews", [("0.1.0", 0.612, 0.600, 1200), ("0.2.0", 0.655, 0.641, 1100)], 1),
    ("Marketing Copy Generator", "Generative", "Text Generation", "PyTorch", "Decoder-only transformer",
     1_300_000_000, 4096, ["text_generation", "copywriting"], ["generative", "marketing", "llm"], "Apache-2.0",
     "Drafts product descriptions, e-mail subject lines and ad copy in the brand's tone of voice.",
     "dataset_marketing_copy", [("1.0.0", 0.0, 0.0, 700)], 0),
    ("Meeting Summarizer", "Generative", "Summarization", "PyTorch", "Encoder-decoder transformer (BART)",
     406_000_000, 1024, ["summarization", "action_item_extraction"], ["generative", "nlp", "meetings"], "MIT",
     "Summarises meeting transcripts into decisions and action items with owners.", "dataset_meeting_transcripts",
     [("1.0.0", 0.0, 0.0, 650), ("1.1.0", 0.0, 0.0, 600)], 1),
    ("Product Image Generator", "Generative", "Image Generation", "PyTorch", "Latent diffusion (UNet)",
     865_000_000, 77, ["image_generation", "inpainting"], ["generative", "vision", "marketing"],
     "CreativeML-OpenRAIL-M", "Creates lifestyle product shots and background variations from a text prompt.",
     "dataset_product_photos", [("1.0.0", 0.0, 0.0, 4200)], 0),
    ("SQL Query Generator", "Generative", "Code Generation", "PyTorch", "Decoder-only transformer",
     1_500_000_000, 4096, ["text_to_sql", "code_generation"], ["generative", "sql", "analytics"], "Apache-2.0",
     "Turns analysts' questions in plain English into SQL for the warehouse schema.", "dataset_text_to_sql",
     [("1.0.0", 0.781, 0.781, 800), ("1.1.0", 0.803, 0.803, 780)], 1),
    ("Image Caption Generator", "Multimodal", "Image Captioning", "PyTorch", "ViT encoder + GPT-2 decoder",
     239_000_000, 128, ["image_captioning", "alt_text"], ["multimodal", "vision", "accessibility"], "Apache-2.0",
     "Writes alt text for product and article images to improve accessibility.", "dataset_image_captions",
     [("1.0.0", 0.0, 0.0, 240)], 0),
    ("Visual Search Embedder", "Multimodal", "Embeddings", "PyTorch", "CLIP ViT-B/32",
     151_000_000, 77, ["image_embedding", "text_image_retrieval"], ["multimodal", "search", "retail"], "MIT",
     "Embeds product photos and text queries into one space so shoppers can search by picture or words.",
     "dataset_product_photos", [("1.0.0", 0.684, 0.671, 35)], 0),
]
# Demo model -> the demo dataset (backend/catalog/datasets/seed.py) it could have been trained on.
TRAINED_ON = {"Customer Sentiment Analyzer": "Customer Feedback", "Support Ticket Router": "Customer Feedback"}
STATUSES = ["monitoring", "deployment", "validation", "training", "development"]
# Illustrative activity per model (views, downloads, deployments, predictions) over two weeks.
ACTIVITY_USERS = ["ml_engineer", "data_scientist", "business_user", "admin"]


def _demo_weights(name: str, version: str) -> tuple[bytes, dict]:
    """A real safetensors file: a tiny classifier head with seeded random weights (not a trained model)."""
    from safetensors.numpy import save

    seed = int.from_bytes(hashlib.sha256(f"{name}@{version}".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    tensors = {"classifier.weight": rng.standard_normal((4, 32)).astype(np.float32),
               "classifier.bias": np.zeros(4, dtype=np.float32)}
    config = {"model": name, "version": version, "head": "linear", "inputDim": 32, "outputDim": 4,
              "demo": True, "note": "random demo weights, not a trained model"}
    return save(tensors, metadata={"format": "aisystem-demo"}), config


def _principal(session: Session, username: str) -> Principal:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        return SYSTEM
    return Principal(user_id=user.id, username=user.username, role=user.role, credential_type="system")


def seed_models(session: Session) -> str:
    """Create the demo models that are missing (by name); returns a summary."""
    engineer = _principal(session, "ml_engineer")
    users = [_principal(session, name) for name in ACTIVITY_USERS]
    created: list[str] = []
    for index, spec in enumerate(MODELS):
        (name, mtype, category, framework, architecture, parameters, context, capabilities, tags, license_id,
         description, _dataset, versions, production) = spec
        if session.exec(select(RegisteredModel.id).where(RegisteredModel.name_key == name.lower())).first():
            continue
        accuracy, f1, p95 = versions[production][1:]
        performance = {"latency": {"p50": round(p95 * 0.45, 1), "p95": p95, "p99": round(p95 * 1.9, 1)},
                       "throughput": round(20000 / max(p95, 1), 1)}
        if accuracy:
            performance |= {"accuracy": accuracy, "precision": round(min(1.0, f1 + 0.01), 3),
                            "recall": round(max(0.0, f1 - 0.01), 3), "f1Score": f1}
        body = {
            "name": name, "type": mtype, "category": category, "framework": framework, "architecture": architecture,
            "status": STATUSES[index % len(STATUSES)] if index % 3 else "monitoring",
            "deploymentType": ("cloud", "on_premise", "edge", "hybrid")[index % 4],
            "parameters": parameters, "contextLength": context, "capabilities": capabilities,
            "metadata": {"description": description, "tags": tags, "license": license_id,
                         "documentation": f"https://docs.example.com/models/{name.lower().replace(' ', '-')}"},
            "training": {"epochs": 10 + index % 40, "batchSize": (16, 32, 64, 128)[index % 4],
                         "learningRate": (0.001, 0.0003, 0.0001, 0.00005)[index % 4],
                         "optimizer": ("Adam", "AdamW", "SGD")[index % 3], "loss": "CrossEntropy",
                         "trainingTime": f"{2 + index % 48} hours",
                         "computeResources": {"gpu": ("1x NVIDIA A100", "4x NVIDIA A100", "2x NVIDIA L4")[index % 3],
                                              "memory": "80GB", "storage": "500GB"}},
            "performance": performance,
            "pricing": {"model": "per_request", "inputTokens": 0.000002, "outputTokens": 0.000004, "fixedCost": 0,
                        "currency": "USD"},
            "deployment": {"endpoints": [], "replicas": 1 + index % 3, "autoScaling": bool(index % 2),
                           "minReplicas": 1, "maxReplicas": 4 + index % 6, "targetUtilization": 70},
        }
        dataset = _demo_dataset(session, TRAINED_ON.get(name))
        if dataset is not None:
            body["training"]["dataset"] = dataset.id
        model = service.create_model(session=session, actor=engineer, data=ModelCreate.model_validate(body),
                                     embed=False)
        previous = None
        for number, (version, acc, v_f1, v_p95) in enumerate(versions):
            metrics = {"latencyP95Ms": float(v_p95)}
            if acc:
                metrics |= {"accuracy": acc, "f1Score": v_f1}
            else:
                metrics |= {"humanPreference": round(0.55 + 0.05 * number, 3)}
            source: dict = {"gitCommit": hashlib.sha1(f"{name}@{version}".encode()).hexdigest()}
            if dataset is not None:
                source["datasets"] = [{"id": dataset.id, "version": str(dataset.current_version)}]
            if previous:
                source["parent"] = {"modelId": model.id, "version": previous}
            service.create_version(session=session, actor=engineer, model_id=model.id, data=VersionCreate.model_validate(
                {"version": version, "source": source, "metrics": metrics, "notes": DEMO_NOTE,
                 "hyperparameters": {"learningRate": body["training"]["learningRate"],
                                     "batchSize": body["training"]["batchSize"], "epochs": body["training"]["epochs"]}}))
            if number <= production:
                weights, config = _demo_weights(name, version)
                service.store_artifact(session=session, actor=engineer, model_id=model.id, version=version,
                                       chunks=[weights], file_name="model.safetensors", config=config)
                service.promote_version(session=session, actor=engineer, model_id=model.id, version=version,
                                        stage="staging", reason="demo: candidate for release")
                service.promote_version(session=session, actor=engineer, model_id=model.id, version=version,
                                        stage="production", reason="demo: passed offline evaluation")
            elif number == production + 1:
                service.promote_version(session=session, actor=engineer, model_id=model.id, version=version,
                                        stage="staging", reason="demo: under evaluation")
            previous = version
        _demo_activity(session, model.id, index, users)
        created.append(model.id)
    if created:
        service.schedule_embeddings(session=session, actor=engineer, model_ids=created)
    return f"{len(created)} demo models created" if created else "demo models present"


def _demo_dataset(session: Session, name: str | None) -> Dataset | None:
    """The demo dataset of that name with data, if the datasets step has created it."""
    if name is None:
        return None
    return session.exec(select(Dataset).where(Dataset.name == name, Dataset.created_by == SYSTEM.user_id,
                                              col(Dataset.current_version).is_not(None),
                                              col(Dataset.deleted_at).is_(None))).first()


def _demo_activity(session: Session, model_id: str, index: int, users: list[Principal]) -> None:
    """Illustrative usage spread over the last 14 days, more for some models than others."""
    rng = np.random.default_rng(index)
    now = utcnow()
    popularity = 1 + (len(MODELS) - index) % 7
    for _ in range(int(popularity * 3)):
        user = users[int(rng.integers(len(users)))]
        kind = ("view", "view", "view", "download", "deployment", "prediction")[int(rng.integers(6))]
        at = now - timedelta(hours=float(rng.uniform(0, 14 * 24)))
        service.record_activity(session=session, model_id=model_id, user_id=user.user_id, kind=kind,
                                count=int(rng.integers(20, 400)) if kind == "prediction" else 1, at=at)


def demo_weights_file(name: str = "Demo", version: str = "1.0.0") -> tuple[bytes, str]:
    """(safetensors bytes, config JSON) of a demo weights file, for tests and tools."""
    weights, config = _demo_weights(name, version)
    return weights, json.dumps(config)
