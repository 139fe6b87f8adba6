"""The family registry and hyperparameter validation (no data needed)."""

from __future__ import annotations

import json

import pytest
from pydantic import Field

from backend.core.errors import AISystemError
from backend.ml import families
from backend.ml.base import Family
from backend.ml.families import family_names, get_family, register_family
from backend.ml.hyperparameters import BaseHyperparameters, dump, trainer_options


def fields_of(error: AISystemError) -> dict[str, str]:
    return {f["field"]: f["message"] for f in error.details.get("fields", [])}


def test_the_three_families_are_registered_and_an_unknown_one_is_train_003():
    assert {"tabular_mlp", "text_classifier", "image_cnn"} <= set(family_names())
    assert get_family("tabular_mlp").tasks == ("classification", "regression")
    assert get_family("image_cnn").dataset_types == ("image",)
    with pytest.raises(AISystemError) as caught:
        get_family("gradient_boosting")
    assert caught.value.code == "TRAIN_003" and caught.value.status == 422
    assert "family" in fields_of(caught.value)
    assert "tabular_mlp" in caught.value.details["known"]


def test_a_family_is_added_by_one_decorated_class(monkeypatch):
    monkeypatch.setattr(families, "_families", dict(families._families))

    class TinyHyperparameters(BaseHyperparameters):
        width: int = Field(default=4, ge=1, le=8)

    @register_family
    class TinyFamily(Family):
        name, tasks, dataset_types = "tiny", ("regression",), ("tabular",)
        hyperparameters = TinyHyperparameters

    assert "tiny" in family_names()
    assert get_family("tiny").validate({"width": 8}).width == 8
    with pytest.raises(AISystemError) as caught:
        get_family("tiny").validate({"width": 9})
    assert "width" in fields_of(caught.value)

    class Impostor(Family):
        name, tasks = "tabular_mlp", ("classification",)

    with pytest.raises(ValueError, match="already registered"):
        register_family(Impostor)
    with pytest.raises(ValueError):
        register_family(type("NoTasks", (Family,), {"name": "no_tasks"}))


def test_describe_gives_tasks_and_a_json_schema_with_the_ranges():
    described = get_family("tabular_mlp").describe()
    json.dumps(described)
    props = described["hyperparameters"]["properties"]
    assert props["maxEpochs"]["maximum"] == 10000 and props["batchSize"]["minimum"] == 1
    assert {"hiddenSizes", "dropout", "embeddingDim", "categoricalEncoding", "learningRate", "optimizer", "loss"} <= set(props)
    assert described["defaults"]["hiddenSizes"] == [64, 32]
    text = get_family("text_classifier").describe()["hyperparameters"]["properties"]
    assert {"mode", "freezeBase", "numBuckets", "embeddingDim"} <= set(text)
    assert "channels" in get_family("image_cnn").describe()["hyperparameters"]["properties"]


@pytest.mark.parametrize("family,raw,field", [
    ("tabular_mlp", {"maxEpochs": 10**6}, "maxEpochs"),
    ("tabular_mlp", {"batchSize": 0}, "batchSize"),
    ("tabular_mlp", {"learningRate": -0.1}, "learningRate"),
    ("tabular_mlp", {"learningRate": "fast"}, "learningRate"),
    ("tabular_mlp", {"hiddenSizes": [64, 0]}, "hiddenSizes.1"),
    ("tabular_mlp", {"hiddenSizes": [8] * 9}, "hiddenSizes"),
    ("tabular_mlp", {"dropout": 1.5}, "dropout"),
    ("tabular_mlp", {"optimizer": "lbfgs"}, "optimizer"),
    ("tabular_mlp", {"loss": "hinge"}, "loss"),
    ("tabular_mlp", {"maxCategories": 10**6}, "maxCategories"),
    ("tabular_mlp", {"noSuchKnob": 1}, "noSuchKnob"),
    ("text_classifier", {"numBuckets": 10}, "numBuckets"),
    ("text_classifier", {"mode": "gpt"}, "mode"),
    ("image_cnn", {"channels": []}, "channels"),
    ("image_cnn", {"imageSize": 100000}, "imageSize"),
])
def test_out_of_range_hyperparameters_are_train_003_naming_the_field(family, raw, field):
    with pytest.raises(AISystemError) as caught:
        get_family(family).validate(raw)
    assert caught.value.code == "TRAIN_003" and caught.value.status == 422
    assert field in fields_of(caught.value), caught.value.details
    assert caught.value.details["family"] == family


def test_hyperparameters_take_snake_case_and_the_designs_spellings():
    hp = get_family("tabular_mlp").validate({"learning_rate": 0.01, "batch_size": 64, "optimizer": "Adam",
                                             "loss": "CrossEntropy", "hiddenSizes": [16]})
    wire = dump(hp)
    assert wire["learningRate"] == 0.01 and wire["batchSize"] == 64 and wire["hiddenSizes"] == [16]
    assert wire["optimizer"] == "adam" and wire["loss"] == "cross_entropy"
    assert wire["maxEpochs"] == 10  # defaults filled
    assert get_family("tabular_mlp").validate({"loss": "MSE"}).loss == "mse"


def test_trainer_options_are_checked_too():
    assert trainer_options({"devices": 2, "precision": "bf16-mixed", "patience": 3}).devices == 2
    with pytest.raises(AISystemError) as caught:
        trainer_options({"devices": 64})
    assert caught.value.code == "TRAIN_003" and "devices" in fields_of(caught.value)
    with pytest.raises(AISystemError) as caught:
        trainer_options({"minDelta": -1, "precision": "fp8"})
    assert {"minDelta", "precision"} <= set(fields_of(caught.value))
