"""Explanations: Integrated Gradients for one prediction (written here in torch: the path integral of the
gradients from a baseline row to the input, Riemann sum at the midpoints) and permutation importance for
the whole model on a dataset version.

Integrated Gradients runs on the model's own feature vector: for the tabular MLP that is the standardised
numerics joined with each categorical's embedding (or one-hot), the input of its `body`. The baseline is
the training mean of every numeric (0 after standardising) and the "other / missing" category, so an
attribution says how far this row's value moved the output from an average row. Attributions of a
column's dimensions are summed into one number per input column; they add up to the output difference
between the input and the baseline (the completeness check reported as `delta`).

Text models are explained along a path of their token embeddings (from all-zero embeddings), one
attribution per word n-gram (bag of embeddings) or word piece (sentence encoder); image models per pixel
from the training-mean image, summed into an 8 × 8 grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch

from backend.core.errors import AISystemError
from backend.ml import packaging
from backend.ml.base import rows_frame

IG_FAMILIES = ("tabular_mlp", "text_classifier", "image_cnn")
IMAGE_GRID = 8  # image attributions are summed into this many × this many cells


def _target_index(config: Mapping[str, Any], logits: torch.Tensor) -> int:
    return int(logits.argmax()) if config["task"] == "classification" else 0


def integrated_gradients(loaded: packaging.LoadedModel, frame: pl.DataFrame, *, steps: int = 32,
                         target: str | None = None) -> list[dict[str, Any]]:
    """Per-column attributions of each row's predicted class (classification; or `target`) or value."""
    config, module = loaded.config, loaded.module
    if config["family"] not in IG_FAMILIES:
        raise AISystemError("INFER_001", f"Integrated Gradients explains the platform's tabular, text and image "
                            f"models; this is a {config['family']} model", {"family": config["family"]})
    names = config.get("labelNames") or []
    if target is not None and target not in names:
        raise AISystemError("INFER_002", f"'{target}' is not a class of this model", {"field": "target"})
    if config["family"] == "text_classifier":
        return _text_gradients(loaded, frame, steps=steps, target=target)
    if config["family"] == "image_cnn":
        return _image_gradients(loaded, frame, steps=steps, target=target)
    pre = config["preprocessing"]
    encoded = loaded.family.encode(config, frame)
    numeric, categorical = encoded.numeric, encoded.categorical
    parts = list(module.cardinalities) if module.onehot else [e.embedding_dim for e in module.embeddings]
    widths = [1] * len(pre["numeric"]) + parts
    columns = [c["name"] for c in pre["numeric"]] + [c["name"] for c in pre["categorical"]]
    captured: dict[str, torch.Tensor] = {}

    def features(num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        hook = module.body.register_forward_pre_hook(lambda _m, args: captured.__setitem__("x", args[0]))
        try:
            module((num, cat))
        finally:
            hook.remove()
        return captured["x"].detach()

    module.eval()
    results = []
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    for i in range(frame.height):
        with torch.no_grad():
            x = features(numeric[i:i + 1], categorical[i:i + 1])
            base = features(torch.zeros_like(numeric[i:i + 1]), torch.zeros_like(categorical[i:i + 1]))
            logits = module.head(module.body(x))[0]
        index = names.index(target) if target is not None else _target_index(config, logits)
        path = (base + alphas[:, None] * (x - base)).requires_grad_(True)
        out = module.head(module.body(path))[:, index].sum()
        (grads,) = torch.autograd.grad(out, path)
        attribution = ((x - base)[0] * grads.mean(dim=0)).detach()
        with torch.no_grad():
            difference = float(logits[index] - module.head(module.body(base))[0][index])
        per_column, start = {}, 0
        for name, width in zip(columns, widths, strict=True):
            per_column[name] = float(attribution[start:start + width].sum())
            start += width
        results.append({"target": names[index] if names else config["label"]["name"],
                        "attributions": per_column,
                        "delta": abs(sum(per_column.values()) - difference)})
    return results


def _path_attribution(forward: Any, x: torch.Tensor, base: torch.Tensor, alphas: torch.Tensor,
                      index: int | None, config: Mapping[str, Any]) -> tuple[torch.Tensor, int, float]:
    """Integrated Gradients of `forward` (a batch of inputs → outputs) from `base` to `x` (one input,
    no batch axis): (attribution shaped like x, the explained output's index, output(x) - output(base))."""
    with torch.no_grad():
        ends = forward(torch.stack([x, base]))
    index = _target_index(config, ends[0]) if index is None else index
    grads = torch.zeros_like(x)
    for chunk in torch.split(alphas, 16):  # the path in slices: an image model's activations stay small
        path = (base + chunk.view(-1, *([1] * x.dim())) * (x - base)).requires_grad_(True)
        (g,) = torch.autograd.grad(forward(path)[:, index].sum(), path)
        grads += g.sum(dim=0)
    attribution = (x - base) * grads / len(alphas)
    return attribution.detach(), index, float(ends[0][index] - ends[1][index])


def _target_name(config: Mapping[str, Any], names: Sequence[str], index: int) -> str:
    return names[index] if names else config["label"]["name"]


def _text_gradients(loaded: packaging.LoadedModel, frame: pl.DataFrame, *, steps: int,
                    target: str | None) -> list[dict[str, Any]]:
    """Per-token attributions of a text model, along a path of its token embeddings from all-zero
    embeddings. Bag of embeddings: each word 1..n-gram's embedding row (the model averages them), one
    attribution per n-gram; sentence encoder: each word piece's input embedding (positions and the
    attention mask as in a prediction), one per word piece, [CLS]/[SEP] included."""
    from backend.ml.families import text_classifier as text

    config, module = loaded.config, loaded.module
    names = config.get("labelNames") or []
    index = names.index(target) if target is not None else None
    tok = config["preprocessing"]["tokenizer"]
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    module.eval()
    results = []
    for value in text._texts(config, frame):
        if config["hyperparameters"].get("mode") == "fine_tune":
            tokenizer = text.tokenizer()
            ids = tokenizer(value, truncation=True, max_length=int(tok["maxTokens"]))["input_ids"]
            tokens = tokenizer.convert_ids_to_tokens(ids)
            encoder = module.encoder
            embedded = encoder.get_input_embeddings()(torch.tensor([ids]))[0].detach()
            mask = torch.ones(1, len(ids), dtype=torch.long)

            def forward(batch: torch.Tensor, encoder: Any = encoder, mask: torch.Tensor = mask) -> torch.Tensor:
                hidden = encoder(inputs_embeds=batch, attention_mask=mask.expand(len(batch), -1)).last_hidden_state
                pooled = torch.nn.functional.normalize(hidden.mean(dim=1), p=2, dim=1)
                return module.head(module.body(pooled))
        else:
            words = text.TOKEN.findall(value.lower())[:int(tok["maxTokens"])]
            tokens = [" ".join(words[i:i + n]) for n in range(1, int(tok["ngrams"]) + 1)
                      for i in range(len(words) - n + 1)]
            ids = text.hashed_ngrams(value, ngrams=int(tok["ngrams"]), buckets=int(tok["buckets"]),
                                     max_tokens=int(tok["maxTokens"]))
            if not ids:
                raise AISystemError("INFER_002", "The text has no words to explain", {"field": "instances"})
            embedded = module.embedding.weight[torch.tensor(ids)].detach()

            def forward(batch: torch.Tensor) -> torch.Tensor:  # the bag's mean, as EmbeddingBag computes it
                return module.head(module.body(batch.mean(dim=1)))
        attribution, i, difference = _path_attribution(forward, embedded, torch.zeros_like(embedded), alphas,
                                                       index, config)
        per_token = attribution.sum(dim=-1).tolist()
        results.append({"target": _target_name(config, names, i),
                        "tokens": [{"token": t, "attribution": a} for t, a in zip(tokens, per_token, strict=True)],
                        "attributions": _merged(tokens, per_token),
                        "delta": abs(sum(per_token) - difference)})
    return results


def _merged(tokens: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """Attributions per distinct token (a repeated word's occurrences summed), for the bar chart."""
    merged: dict[str, float] = {}
    for token, value in zip(tokens, values, strict=True):
        merged[token] = merged.get(token, 0.0) + value
    return merged


def _image_gradients(loaded: packaging.LoadedModel, frame: pl.DataFrame, *, steps: int,
                     target: str | None) -> list[dict[str, Any]]:
    """Per-pixel attributions of an image model (channels summed) from the training-mean image (0 after
    normalising), returned as an `IMAGE_GRID` × `IMAGE_GRID` grid of cell sums (row-major, top-left
    first) and per cell in `attributions` as "r<row>c<col>"."""
    config, module = loaded.config, loaded.module
    names = config.get("labelNames") or []
    index = names.index(target) if target is not None else None
    encoded = loaded.family.encode(config, frame)
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    module.eval()
    results = []
    for i in range(len(encoded)):
        x = encoded.take(torch.tensor([i]))[0]
        attribution, j, difference = _path_attribution(module, x, torch.zeros_like(x), alphas, index, config)
        pixels = attribution.sum(dim=0)  # channels → one map
        grid = _grid(pixels, IMAGE_GRID)
        results.append({"target": _target_name(config, names, j), "grid": grid,
                        "attributions": {f"r{r}c{c}": grid[r][c] for r in range(len(grid)) for c in range(len(grid[r]))},
                        "delta": abs(float(pixels.sum()) - difference)})
    return results


def _grid(pixels: torch.Tensor, cells: int) -> list[list[float]]:
    """Sums of `pixels` over a cells × cells grid (fewer cells when the image is smaller)."""
    height, width = pixels.shape
    rows, cols = min(cells, height), min(cells, width)
    row_edges = np.linspace(0, height, rows + 1).round().astype(int)
    col_edges = np.linspace(0, width, cols + 1).round().astype(int)
    return [[float(pixels[row_edges[r]:row_edges[r + 1], col_edges[c]:col_edges[c + 1]].sum()) for c in range(cols)]
            for r in range(rows)]


def _score(config: Mapping[str, Any], outputs: list[dict[str, Any]], labels: Sequence[Any]) -> float:
    """Accuracy (classification) or negative RMSE (regression): higher is better either way."""
    if config["task"] == "classification":
        return float(np.mean([o["label"] == str(y) for o, y in zip(outputs, labels, strict=True)]))
    values = np.array([o["value"] for o in outputs], dtype=float)
    return -float(np.sqrt(np.mean((values - np.asarray(labels, dtype=float)) ** 2)))


def permutation_importance(loaded: packaging.LoadedModel, frame: pl.DataFrame, *, repeats: int = 3,
                           seed: int = 0) -> dict[str, Any]:
    """How much the score drops when one input column's values are shuffled (mean over `repeats`)."""
    config = loaded.config
    label = config["label"]["name"]
    if label not in frame.columns:
        raise AISystemError("INFER_002", f"The dataset version has no label column '{label}' to score against",
                            {"field": label})
    frame = frame.filter(pl.col(label).is_not_null())
    if config["task"] == "classification":
        known = set(config["labelNames"])
        frame = frame.filter(pl.col(label).cast(pl.String).is_in(list(known)))
    if frame.height == 0:
        raise AISystemError("INFER_002", "The dataset version has no labelled rows to score against",
                            {"field": label})
    inputs = [c["name"] for c in config["inputSchema"]["columns"]]
    checked = frame.select(inputs)
    labels = frame[label].to_list()

    def score(data: pl.DataFrame) -> float:
        return _score(config, loaded.family.predict_frame(loaded.module, config, data), labels)

    typed = rows_frame(config, checked.to_dicts())
    baseline = score(typed)
    rng = np.random.default_rng(seed)
    importances = {}
    for name in inputs:
        drops = []
        for _ in range(repeats):
            shuffled = typed.with_columns(typed[name].gather(rng.permutation(typed.height)))
            drops.append(baseline - score(shuffled))
        importances[name] = {"mean": float(np.mean(drops)), "std": float(np.std(drops))}
    metric = "accuracy" if config["task"] == "classification" else "negativeRmse"
    ordered = dict(sorted(importances.items(), key=lambda kv: -kv[1]["mean"]))
    return {"metric": metric, "baseline": baseline, "rows": typed.height, "repeats": repeats,
            "importances": ordered}
