"""Integrated Gradients of the text and image families (backend/endpoints/explain.py) on models trained
here on real data: attributions per token (text) and per cell of an 8×8 grid (image) that add up to the
output's change from the baseline, and point at the words that decide."""

from __future__ import annotations

import pytest

from backend.core.errors import AISystemError
from backend.endpoints import explain
from backend.ml import packaging, training
from backend.ml.base import rows_frame
from tests.backend.ml.test_training import fit

pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated")]


def _loaded(prepared) -> packaging.LoadedModel:
    weights, config = packaging.package(prepared.module, prepared.config)
    import json

    return packaging.load_package(weights, json.dumps(config))


def test_text_bag_of_embeddings_attributes_per_word(session, dataset):
    prepared = training.prepare(session=session, dataset_id=dataset("feedback"), family="text_classifier",
                                hyperparameters={"maxEpochs": 3, "numBuckets": 4096, "learningRate": 0.02})
    fit(prepared)
    loaded = _loaded(prepared)
    text = "Terrible, awful and broken. Refund!"
    frame = rows_frame(loaded.config, [{"text": text}])
    (result,) = explain.integrated_gradients(loaded, frame, steps=32)
    assert result["target"] == "negative"
    words = [t["token"] for t in result["tokens"]]
    assert words[:5] == ["terrible", "awful", "and", "broken", "refund"]  # unigrams first, then n-grams
    logit_change = sum(t["attribution"] for t in result["tokens"])
    assert result["delta"] <= 0.05 * abs(logit_change) + 1e-4  # completeness
    # A word that says "negative" pushes towards it more than the filler word does.
    by_word = result["attributions"]
    assert max(by_word["terrible"], by_word["awful"]) > by_word["and"]
    # Another class can be asked for; its attributions differ in sign for the deciding words.
    (other,) = explain.integrated_gradients(loaded, frame, steps=32, target="positive")
    assert other["target"] == "positive" and other["attributions"]["awful"] < by_word["awful"]
    with pytest.raises(AISystemError) as caught:
        explain.integrated_gradients(loaded, rows_frame(loaded.config, [{"text": "!!!"}]), steps=8)
    assert caught.value.code == "INFER_002"


def test_image_cnn_attributions_come_as_an_8_by_8_grid(session, dataset, actor):
    from tests.backend.ml.test_training import held_out

    prepared = training.prepare(session=session, dataset_id=dataset("digits"), family="image_cnn",
                                hyperparameters={"maxEpochs": 3, "learningRate": 0.01})
    fit(prepared)
    loaded = _loaded(prepared)
    rows, _labels = held_out(session, actor, prepared)
    frame = rows_frame(loaded.config, rows[:2])
    results = explain.integrated_gradients(loaded, frame, steps=32)
    predicted = packaging.predict(loaded, rows[:2])
    assert [r["target"] for r in results] == [p["label"] for p in predicted]
    for result in results:
        grid = result["grid"]
        assert len(grid) == 8 and all(len(row) == 8 for row in grid)  # the digits are 8×8: a cell per pixel
        assert len(result["attributions"]) == 64 and "r0c0" in result["attributions"]
        total = sum(map(sum, grid))
        assert result["delta"] <= 0.05 * abs(total) + 1e-3  # completeness
        assert any(abs(v) > 1e-6 for row in grid for v in row)


def test_the_grid_sums_pixels_into_cells():
    import torch

    pixels = torch.arange(16 * 16, dtype=torch.float32).view(16, 16)
    grid = explain._grid(pixels, 8)
    assert len(grid) == 8 and grid[0][0] == float(pixels[:2, :2].sum())
    assert sum(map(sum, grid)) == pytest.approx(float(pixels.sum()))
    assert len(explain._grid(pixels[:4, :4], 8)) == 4  # a smaller image: one cell per pixel
