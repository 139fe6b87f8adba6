"""Demo datasets: scikit-learn's bundled data (breast cancer, wine, diabetes, digits as images) and a
generated customer-feedback text dataset with sentiment labels. Idempotent; everything goes through
the same service calls as a user's upload, so each one has a real version, schema and audit trail."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM
from backend.catalog.datasets import media
from backend.catalog.datasets import service as datasets_service
from backend.catalog.datasets.models import Dataset

FEEDBACK_SEED = 20261126
FEEDBACK_ROWS = 3000
DATA_ROLES = ("ml_engineer", "data_scientist", "data_engineer")


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def _sklearn_frame(loader: Callable, label_names: bool) -> pl.DataFrame:
    bunch = loader()
    columns = {str(name): bunch.data[:, i] for i, name in enumerate(bunch.feature_names)}
    target = bunch.target
    if label_names:
        columns["target"] = [str(bunch.target_names[t]) for t in target]
    else:
        columns["target"] = target.astype(float)
    return pl.DataFrame(columns)


def breast_cancer() -> bytes:
    from sklearn.datasets import load_breast_cancer

    return _parquet(_sklearn_frame(load_breast_cancer, label_names=True))


def wine() -> bytes:
    from sklearn.datasets import load_wine

    return _parquet(_sklearn_frame(load_wine, label_names=True))


def diabetes() -> bytes:
    from sklearn.datasets import load_diabetes

    return _parquet(_sklearn_frame(load_diabetes, label_names=False))


def digits_zip() -> bytes:
    """1,797 8×8 grayscale PNGs in one folder per digit (the folder names are the labels)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, (image, label) in enumerate(zip(bunch.images, bunch.target, strict=True)):
            pixels = np.clip(image * 16, 0, 255).astype(int).tolist()
            archive.writestr(f"{label}/digit_{i:04d}.png", media.png_bytes(pixels))
    return buffer.getvalue()


_OPENERS = {
    "positive": ["I love the {p}", "Great {p}, works perfectly", "Fantastic support for my {p}",
                 "The {p} exceeded my expectations", "Very happy with the {p}"],
    "negative": ["The {p} broke after a week", "Terrible experience with the {p}", "Support never answered about my {p}",
                 "Refund requested for the {p}", "The {p} is far too slow"],
    "neutral": ["The {p} is okay", "Delivery of the {p} was on time", "The {p} does what it says",
                "Average {p}, nothing special", "Received the {p} today"],
}
_CLOSERS = ["", " Would buy again.", " Not sure yet.", " Thanks!", " Please fix this.", " Five stars.", " Meh."]


def customer_feedback() -> bytes:
    """A deterministic text dataset: feedback text, channel, product, rating and a sentiment label.
    About 3 % of the texts carry an e-mail address or phone number, for the PII detector to find."""
    rng = np.random.default_rng(FEEDBACK_SEED)
    products = ["router", "laptop", "headphones", "camera", "phone plan", "smart watch"]
    channels = ["email", "chat", "phone", "survey"]
    sentiments = rng.choice(["positive", "negative", "neutral"], size=FEEDBACK_ROWS, p=[0.45, 0.30, 0.25])
    rows = []
    start = datetime(2025, 1, 1)
    for i, sentiment in enumerate(sentiments):
        product = products[rng.integers(len(products))]
        text = _OPENERS[sentiment][rng.integers(5)].format(p=product) + _CLOSERS[rng.integers(len(_CLOSERS))]
        roll = rng.random()
        if roll < 0.015:
            text += f" Contact me at customer{i}@example.com"
        elif roll < 0.03:
            text += f" Call me on +1 555-{rng.integers(100, 999)}-{rng.integers(1000, 9999)}"
        base = {"positive": 4.5, "negative": 1.6, "neutral": 3.0}[sentiment]
        rating = int(np.clip(round(base + rng.normal(0, 0.6)), 1, 5))
        rows.append({"id": i + 1, "created_at": start + timedelta(minutes=int(rng.integers(0, 525_600))),
                     "channel": channels[rng.integers(len(channels))], "product": product, "rating": rating,
                     "text": text, "sentiment": str(sentiment)})
    buffer = io.BytesIO()
    pl.DataFrame(rows).sort("created_at").write_csv(buffer)
    return buffer.getvalue()


DEMO_DATASETS = [
    {"name": "Customer Feedback", "type": "text", "label": "sentiment", "file": "customer_feedback.csv",
     "make": customer_feedback, "tags": ["customer", "feedback", "sentiment", "demo"],
     "source": "Generated (deterministic seed)", "languages": ["en"],
     "description": "Customer feedback texts with sentiment labels, channel, product and rating."},
    {"name": "Breast Cancer Wisconsin", "type": "tabular", "label": "target", "file": "breast_cancer.parquet",
     "make": breast_cancer, "tags": ["medical", "classification", "demo"], "source": "scikit-learn",
     "languages": [], "description": "30 features of cell nuclei; target: malignant or benign."},
    {"name": "Wine", "type": "tabular", "label": "target", "file": "wine.parquet", "make": wine,
     "tags": ["chemistry", "classification", "demo"], "source": "scikit-learn", "languages": [],
     "description": "13 chemical measurements of wines from three cultivars."},
    {"name": "Diabetes", "type": "tabular", "label": None, "file": "diabetes.parquet", "make": diabetes,
     "tags": ["medical", "regression", "demo"], "source": "scikit-learn", "languages": [],
     "description": "10 baseline variables; target: disease progression after one year (regression)."},
    {"name": "Handwritten Digits", "type": "image", "label": "label", "file": "digits.zip", "make": digits_zip,
     "tags": ["vision", "classification", "demo"], "source": "scikit-learn", "languages": [],
     "description": "1,797 8x8 grayscale images of the digits 0-9, one folder per digit."},
]


def seed_demo_datasets(session: Session) -> str:
    """Create the demo datasets that are missing; readable by every data role."""
    made = []
    for spec in DEMO_DATASETS:
        dataset = session.exec(select(Dataset).where(Dataset.name == spec["name"], Dataset.created_by == SYSTEM.user_id,
                                                     col(Dataset.deleted_at).is_(None))).first()
        if dataset is not None and dataset.current_version is not None:
            continue
        if dataset is None:
            dataset = datasets_service.create_dataset(session=session, actor=SYSTEM, data={
                "name": spec["name"], "type": spec["type"], "description": spec["description"],
                "labelColumn": spec["label"], "metadata": {"source": spec["source"], "tags": spec["tags"],
                                                           "languages": spec["languages"]},
            })
            datasets_service.set_access(session=session, actor=SYSTEM, dataset_id=dataset.id,
                                        entries=[{"subjectType": "role", "subject": r} for r in DATA_ROLES])
        datasets_service.upload(session=session, actor=SYSTEM, dataset_id=dataset.id,
                                source=io.BytesIO(spec["make"]()), filename=spec["file"], message="demo data")
        made.append(spec["name"])
    return f"created {', '.join(made)}" if made else "demo datasets already present"
