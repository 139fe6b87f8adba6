"""Reading dataset versions and their stored splits; the errors raised before any training starts."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from backend.catalog.datasets import service as datasets_service
from backend.core.errors import AISystemError
from backend.ml import training
from tests.backend.ml.conftest import SPLIT, csv_bytes, make_dataset


def raised(fn, **kwargs) -> AISystemError:
    with pytest.raises(AISystemError) as caught:
        fn(**kwargs)
    return caught.value


def test_check_trainable_describes_what_will_be_trained(session, actor, dataset):
    dataset_id = dataset("breast_cancer")
    plan = training.check_trainable(session=session, actor=actor, dataset_id=dataset_id, family="tabular_mlp",
                                    hyperparameters={"maxEpochs": 5})
    assert plan.task == "classification" and plan.label_column == "diagnosis" and plan.version == 1
    assert plan.label_names == ["benign", "malignant"]
    assert sum(plan.counts.values()) == 569 and plan.counts["train"] > plan.counts["test"] > 0
    assert len(plan.input_columns) == 30 and "diagnosis" not in plan.input_columns
    assert plan.hyperparameters["maxEpochs"] == 5 and plan.hyperparameters["batchSize"] == 32
    assert plan.monitor == ("val_loss", "min")
    assert json.loads(json.dumps(plan.as_dict()))["qualityMetric"] == "accuracy"
    regression = training.check_trainable(session=session, dataset_id=dataset("diabetes"), family="tabular_mlp")
    assert regression.task == "regression" and regression.label_names is None


def test_a_version_without_a_split_is_data_004_before_training(session, actor, dataset):
    dataset_id = dataset("iris", split=None)
    for fn in (training.check_trainable, training.prepare):
        error = raised(fn, session=session, dataset_id=dataset_id, family="tabular_mlp")
        assert error.code == "DATA_004" and error.details["reason"] == "no_split"
        assert error.details["datasetId"] == dataset_id and error.details["version"] == 1


def test_a_dataset_without_a_label_column_is_data_004_unless_one_is_named(session, actor, dataset):
    dataset_id = dataset("diabetes", label=None)
    error = raised(training.check_trainable, session=session, dataset_id=dataset_id, family="tabular_mlp")
    assert error.code == "DATA_004" and error.details["reason"] == "no_label_column"
    plan = training.check_trainable(session=session, dataset_id=dataset_id, family="tabular_mlp",
                                    label_column="progression")
    assert plan.task == "regression"
    error = raised(training.check_trainable, session=session, dataset_id=dataset_id, family="tabular_mlp",
                   label_column="outcome")
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "labelColumn"


def test_the_family_task_and_loss_must_fit_the_data(session, actor, dataset):
    iris = dataset("iris")
    error = raised(training.check_trainable, session=session, dataset_id=iris, family="image_cnn")
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "family"
    error = raised(training.check_trainable, session=session, dataset_id=iris, family="tabular_mlp",
                   hyperparameters={"loss": "mse"})
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "loss"
    error = raised(training.check_trainable, session=session, dataset_id=iris, family="tabular_mlp", task="regression")
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "task"
    error = raised(training.check_trainable, session=session, dataset_id=iris, family="tabular_mlp",
                   input_columns=["sepal_length", "no_such_column"])
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "inputColumns.no_such_column"
    error = raised(training.check_trainable, session=session, dataset_id=dataset("diabetes"), family="tabular_mlp",
                   hyperparameters={"loss": "cross_entropy"})
    assert error.code == "TRAIN_003"
    error = raised(training.check_trainable, session=session, dataset_id=iris, family="tabular_mlp",
                   hyperparameters={"maxEpochs": 10**6})
    assert error.code == "TRAIN_003" and error.details["fields"][0]["field"] == "maxEpochs"


def test_one_class_or_an_unreadable_dataset_is_refused(session, actor, principals, dataset):
    single = csv_bytes(pl.DataFrame({"x": np.arange(40.0), "y": ["same"] * 40}))
    dataset_id = make_dataset(session, actor, data=single, filename="one.csv", label="y", split=SPLIT)
    error = raised(training.check_trainable, session=session, dataset_id=dataset_id, family="tabular_mlp")
    assert error.code == "DATA_004" and error.details["reason"] == "one_class"
    # Someone the dataset is not shared with gets DATA_001, as if it did not exist.
    error = raised(training.check_trainable, session=session, actor=principals["business_user"],
                   dataset_id=dataset("iris"), family="tabular_mlp")
    assert error.code == "DATA_001"
    error = raised(training.check_trainable, session=session, dataset_id="dataset_00000000000000000000",
                   family="tabular_mlp")
    assert error.code == "DATA_001"


def test_integer_classes_are_named_in_natural_order(session, actor):
    data = pl.DataFrame({"x": np.arange(60.0), "y": [1, 2, 10] * 20})
    dataset_id = make_dataset(session, actor, data=csv_bytes(data), filename="n.csv", label="y", split=SPLIT)
    plan = training.check_trainable(session=session, dataset_id=dataset_id, family="tabular_mlp")
    assert plan.task == "classification" and plan.label_names == ["1", "2", "10"]


def test_standardisation_statistics_come_from_the_training_split_only(session, actor, dataset):
    dataset_id = dataset("breast_cancer")
    prepared = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp")
    stats = {c["name"]: c for c in prepared.config["preprocessing"]["numeric"]}
    parts = {k: v.collect() for k, v in datasets_service.split_frames(session=session, actor=actor,
                                                                       dataset_id=dataset_id).items()}
    everything = pl.concat(list(parts.values()))
    for column in ("mean radius", "worst area", "mean texture"):
        train = parts["train"][column]
        assert stats[column]["mean"] == pytest.approx(train.mean(), rel=1e-12)
        assert stats[column]["std"] == pytest.approx(train.std(ddof=0), rel=1e-12)
        assert stats[column]["mean"] != pytest.approx(everything[column].mean(), rel=1e-9)
    # What the model sees: the training inputs are centred and scaled, the held-out ones only nearly.
    train_inputs = prepared.loaders.train.dataset.encoded.numeric
    test_inputs = prepared.loaders.test.dataset.encoded.numeric
    assert train_inputs.mean(0).abs().max() < 1e-5 and (train_inputs.std(0, unbiased=False) - 1).abs().max() < 1e-4
    assert test_inputs.mean(0).abs().max() > 1e-3
    assert len(prepared.loaders.train.dataset) == parts["train"].height


def test_categoricals_keep_the_training_values_and_map_the_rest_to_zero(session, actor, dataset):
    data = pl.DataFrame({"city": ["oslo", "rome", "oslo", "lima", None] * 20, "x": np.linspace(0, 1, 100),
                         "y": ["a", "b"] * 50})
    dataset_id = make_dataset(session, actor, data=csv_bytes(data), filename="c.csv", label="y", split=SPLIT)
    prepared = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp",
                                hyperparameters={"maxCategories": 2})
    (city,) = prepared.config["preprocessing"]["categorical"]
    # The two most frequent training values, the most frequent first; "oslo" is twice as common as the others.
    assert city["name"] == "city" and len(city["categories"]) == 2 and city["categories"][0] == "oslo"
    encoded = prepared.family.encode(prepared.config, pl.DataFrame({"city": ["oslo", "paris", None], "x": [0.5] * 3}))
    assert encoded.categorical[:, 0].tolist() == [1, 0, 0]


def test_rebuild_from_a_config_gives_the_same_start_and_refuses_a_resplit_version(session, actor, dataset):
    dataset_id = dataset("iris")
    prepared = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp")
    config = json.loads(json.dumps(prepared.config))  # as a job stores it
    again = training.rebuild(session=session, config=config)
    for (name, a), (_n, b) in zip(prepared.module.state_dict().items(), again.module.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert again.loaders.counts() == prepared.loaders.counts()
    assert torch.equal(again.loaders.train.dataset.encoded.numeric, prepared.loaders.train.dataset.encoded.numeric)
    datasets_service.split(session=session, actor=actor, dataset_id=dataset_id, request={**SPLIT, "seed": 99})
    session.commit()
    error = raised(training.loaders, session=session, config=config)
    assert error.code == "TRAIN_001" and error.details["expectedSplitSha256"] == config["dataset"]["splitSha256"]


def test_index_batches_slice_one_permutation_and_fall_back_for_other_samplers():
    import torch
    from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler

    from backend.ml.base import IndexBatches

    rows = list(range(10))
    shuffled = list(IndexBatches(RandomSampler(rows, generator=torch.Generator().manual_seed(3)), batch_size=4,
                                 drop_last=False))
    assert [len(b) for b in shuffled] == [4, 4, 2]
    assert all(isinstance(b, torch.Tensor) for b in shuffled)
    assert sorted(torch.cat(shuffled).tolist()) == rows
    assert torch.cat(shuffled).tolist() == torch.randperm(10, generator=torch.Generator().manual_seed(3)).tolist()
    dropped = list(IndexBatches(SequentialSampler(rows), batch_size=4, drop_last=True))
    assert [b.tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    # Any other sampler (DDP's DistributedSampler) keeps BatchSampler's per-row batches.
    other = SubsetRandomSampler([1, 2, 3], generator=torch.Generator().manual_seed(0))
    assert sorted(i for b in IndexBatches(other, batch_size=2, drop_last=False) for i in b) == [1, 2, 3]
    assert len(IndexBatches(SequentialSampler(rows), batch_size=4, drop_last=False)) == 3
    assert isinstance(IndexBatches(SequentialSampler(rows), batch_size=4, drop_last=False), BatchSampler)


def test_the_label_read_of_a_check_is_kept_per_version_and_split(session, actor, dataset, monkeypatch):
    from backend.ml import data

    dataset_id = dataset("breast_cancer")
    reads = []
    real = data.read_split
    monkeypatch.setattr(data, "read_split", lambda *a, **k: reads.append(1) or real(*a, **k))
    first = training.check_trainable(session=session, dataset_id=dataset_id, family="tabular_mlp")
    again = training.check_trainable(session=session, dataset_id=dataset_id, family="tabular_mlp",
                                     hyperparameters={"learningRate": 0.01})
    assert len(reads) == 1 and again.counts == first.counts  # the second check read nothing again
    # A new split is other rows: read again, and counted by the new split.
    datasets_service.split(session=session, actor=actor, dataset_id=dataset_id,
                           request={"train": 0.5, "validation": 0.25, "test": 0.25, "seed": 5})
    session.commit()
    resplit = training.check_trainable(session=session, dataset_id=dataset_id, family="tabular_mlp")
    assert len(reads) == 2 and resplit.split_sha256 != first.split_sha256
    assert resplit.counts["train"] < first.counts["train"]
