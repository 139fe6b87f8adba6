"""Model packages without pickle: safetensors weights plus a JSON config.

    weights, config = package(module, config, metrics={"val_accuracy": 0.97})
    loaded = load_package(weights, config)          # bytes or a path; the config as a dict or JSON text
    predict(loaded, [{"mean radius": 14.1, ...}])   # [{"label": "benign", "probabilities": {...}}]

The config (format `aisystem.ml/1`) holds everything needed to rebuild and use the model: `family`,
`task`, `hyperparameters`, `dataset` (id, version, split hash, row counts), `label` (name, dtype),
`labelNames`, `inputSchema` (the columns a row must carry and their kinds), `preprocessing` (training-
split statistics, vocabularies, image size, tokenizer; `target` mean/std for regression), `metrics`
(the summary the runner passes), `weights` (sha256, tensor and parameter counts) and `framework`
(torch and lightning versions). Loading checks the weights' hash and that the tensors are exactly the
ones the family's module has (TRAIN_004 otherwise), and never unpickles anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from backend.core.errors import AISystemError
from backend.ml.base import FORMAT, Family
from backend.ml.families import get_family
from backend.ml.modules import SupervisedModule


@dataclass
class LoadedModel:
    """A packaged model ready to predict: its family, its config and the module (in eval mode)."""

    family: Family
    config: dict[str, Any]
    module: SupervisedModule

    def predict(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return predict(self, rows)


def corrupted(message: str, **details: Any) -> AISystemError:
    return AISystemError("TRAIN_004", message, details)


def _plain(value: Any) -> Any:
    """A metric value as JSON: tensors and numpy scalars to floats; NaN and infinities to None."""
    if isinstance(value, torch.Tensor):
        value = value.detach().float().item() if value.numel() == 1 else value.detach().float().tolist()
    if hasattr(value, "item") and not isinstance(value, list | dict):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def package(module: SupervisedModule, config: Mapping[str, Any], *,
            metrics: Mapping[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """(safetensors bytes, config dict) of a trained module; `metrics` is the summary kept in the config."""
    state = module.packaged_state_dict()
    # safetensors refuses shared or non-contiguous storage: store an independent copy of each tensor.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in state.items()}
    weights = save_tensors(tensors, metadata={"format": FORMAT, "family": str(config["family"])})
    parameters = sum(t.numel() for n, t in tensors.items()
                     if not n.endswith(("running_mean", "running_var", "num_batches_tracked")))
    import lightning

    out = copy.deepcopy(dict(config))
    out["format"] = FORMAT
    if metrics is not None:
        out["metrics"] = {str(k): _plain(v) for k, v in metrics.items()}
    else:
        out.setdefault("metrics", {})
    out["weights"] = {"sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights), "tensors": len(tensors),
                      "parameters": int(parameters)}
    out["framework"] = {"torch": torch.__version__, "lightning": lightning.__version__}
    json.dumps(out, allow_nan=False)  # a config that is not plain JSON is a bug here, not at upload time
    return weights, out


def _read_config(config: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(config, str | bytes | bytearray):
        try:
            config = json.loads(config)
        except (ValueError, UnicodeDecodeError):
            raise corrupted("The package's config is not valid JSON") from None
    if not isinstance(config, Mapping):
        raise corrupted("The package's config must be a JSON object")
    config = dict(config)
    if config.get("format") != FORMAT:
        raise corrupted(f"Not a package of format {FORMAT}", format=str(config.get("format"))[:40])
    missing = [k for k in ("family", "task", "hyperparameters", "inputSchema", "preprocessing", "label")
               if k not in config]
    if missing:
        raise corrupted(f"The package's config lacks {', '.join(missing)}", missing=missing)
    return config


def load_package(weights: bytes | str | Path, config: Mapping[str, Any] | str | bytes) -> LoadedModel:
    """Rebuild a packaged model from its weights (bytes or a file path) and config, ready to predict.
    TRAIN_004 when the weights are not safetensors, do not match the config's hash, or do not fit the
    family's module; TRAIN_003 for a family this platform does not have."""
    config = _read_config(config)
    data = Path(weights).read_bytes() if isinstance(weights, str | Path) else bytes(weights)
    expected = (config.get("weights") or {}).get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise corrupted("The weights do not match the hash in the package's config")
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise corrupted(f"The weights are not a readable safetensors file: {str(exc)[:200]}") from None
    family = get_family(config["family"])
    # A package may leave out a frozen base model's weights: the family then takes them from the
    # installed base, after checking it is the one the package was trained on.
    pretrained = family.loads_base_weights(config)
    try:
        module = family.build_module(config, pretrained=pretrained)
    except (KeyError, TypeError, ValueError) as exc:
        raise corrupted(f"The package's config does not describe a {family.name} model: {str(exc)[:200]}") from None
    expected_keys = set(module.packaged_state_dict())
    if set(tensors) != expected_keys:
        missing, extra = sorted(expected_keys - set(tensors)), sorted(set(tensors) - expected_keys)
        raise corrupted("The weights do not fit the model the config describes",
                        missing=missing[:20], unexpected=extra[:20])
    try:
        module.load_state_dict(tensors, strict=not pretrained)
    except RuntimeError as exc:  # shapes that differ from the config's
        raise corrupted(f"The weights do not fit the model the config describes: {str(exc)[:300]}") from None
    module.eval()
    return LoadedModel(family=family, config=config, module=module)


def predict(loaded: LoadedModel, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Predictions for rows of input values (keyed by the config's input columns), in order:
    `{"label", "probabilities"}` for a classifier, `{"value"}` for a regressor. INFER_002 names a
    missing or mistyped input."""
    return loaded.family.predict(loaded.module, loaded.config, rows)
