"""Datasets for the model-family tests, made through the datasets service as a user's upload would be
(scikit-learn's bundled data written to CSV, a generated text dataset, the digits as PNGs in a zip with
one folder per digit, like the demo dataset), and a quiet CPU Trainer."""

from __future__ import annotations

import io
import logging
import zipfile

import lightning  # noqa: F401  (imported first: it sets its loggers' levels on import, we lower them after)
import numpy as np
import polars as pl
import pytest
import torch

from backend.catalog.datasets import media
from backend.catalog.datasets import service as datasets_service

torch.set_num_threads(2)  # two cores, shared
for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
    logging.getLogger(name).setLevel(logging.ERROR)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def breast_cancer_csv() -> bytes:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    columns = {str(n): bunch.data[:, i] for i, n in enumerate(bunch.feature_names)}
    columns["diagnosis"] = [str(bunch.target_names[t]) for t in bunch.target]
    return csv_bytes(pl.DataFrame(columns))


def iris_csv() -> bytes:
    """Iris with a categorical column of petal-length bands (text in the CSV)."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    columns = {n.replace(" (cm)", "").replace(" ", "_"): bunch.data[:, i] for i, n in enumerate(bunch.feature_names)}
    petal = bunch.data[:, 2]
    columns["petal_band"] = ["short" if v < 2.5 else "medium" if v < 5.0 else "long" for v in petal]
    columns["species"] = [str(bunch.target_names[t]) for t in bunch.target]
    return csv_bytes(pl.DataFrame(columns))


def diabetes_csv() -> bytes:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    columns = {str(n): bunch.data[:, i] for i, n in enumerate(bunch.feature_names)}
    columns["progression"] = bunch.target.astype(float)
    return csv_bytes(pl.DataFrame(columns))


_WORDS = {
    "positive": ["love", "great", "excellent", "fantastic", "happy", "perfect", "recommend", "superb"],
    "negative": ["broken", "terrible", "awful", "refund", "slow", "angry", "useless", "disappointed"],
    "neutral": ["okay", "average", "arrived", "ordinary", "fine", "received", "standard", "expected"],
}
_FILLER = ["the", "my", "router", "laptop", "phone", "service", "delivery", "was", "is", "really", "today", "and"]


def feedback_csv(rows: int = 600, seed: int = 7) -> bytes:
    """Short feedback texts whose sentiment words decide the label, with filler and a channel column."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(list(_WORDS), size=rows, p=[0.4, 0.35, 0.25])
    texts = []
    for label in labels:
        words = list(rng.choice(_FILLER, size=rng.integers(3, 8))) + list(rng.choice(_WORDS[label], size=2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
    channel = rng.choice(["email", "chat"], size=rows)
    return csv_bytes(pl.DataFrame({"channel": channel, "text": texts, "sentiment": labels}))


def digits_zip() -> bytes:
    """scikit-learn's 1,797 8x8 digits as grayscale PNGs, one folder per digit (the demo's layout)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, (image, label) in enumerate(zip(bunch.images, bunch.target, strict=True)):
            pixels = np.clip(image * 16, 0, 255).astype(int).tolist()
            archive.writestr(f"{label}/digit_{i:04d}.png", media.png_bytes(pixels))
    return buffer.getvalue()


def make_dataset(session, actor, *, data: bytes, filename: str, type: str = "tabular",  # noqa: A002
                 label: str | None = None, split: dict | None = None, name: str = "ml test") -> str:
    """Create, upload and (unless `split` is False-y) split a dataset; returns its id."""
    dataset = datasets_service.create_dataset(session=session, actor=actor,
                                              data={"name": name, "type": type, "labelColumn": label})
    session.commit()
    datasets_service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(data),
                            filename=filename)
    session.commit()
    if split:
        datasets_service.split(session=session, actor=actor, dataset_id=dataset.id, request=split)
        session.commit()
    return dataset.id


SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 3}


@pytest.fixture
def actor(principals):
    return principals["data_scientist"]


@pytest.fixture
def dataset(session, actor):
    """make(kind) -> dataset id, for kind in breast_cancer, iris, diabetes, feedback, digits."""
    kinds = {
        "breast_cancer": dict(data=breast_cancer_csv(), filename="breast_cancer.csv", label="diagnosis"),
        "iris": dict(data=iris_csv(), filename="iris.csv", label="species"),
        "diabetes": dict(data=diabetes_csv(), filename="diabetes.csv", label="progression"),
        "feedback": dict(data=feedback_csv(), filename="feedback.csv", type="text", label="sentiment"),
        "digits": dict(data=digits_zip(), filename="digits.zip", type="image", label="label"),
    }

    def make(kind: str, *, split: dict | None = SPLIT, **overrides) -> str:
        spec = {**kinds[kind], **overrides}
        if split and "stratifyBy" not in split and spec.get("label"):
            split = {**split, "stratifyBy": spec["label"]} if kind != "diabetes" else split
        return make_dataset(session, actor, split=split, name=kind, **spec)

    return make


def quiet_trainer(**kwargs):
    import lightning as L

    options = dict(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
                   logger=False, enable_checkpointing=False, num_sanity_val_steps=0)
    options.update(kwargs)
    return L.Trainer(**options)
