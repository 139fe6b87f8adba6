"""ONNX export of a loaded package, for teams that serve with Triton, KServe or ONNX Runtime.

The graph takes the family's encoded inputs (the tabular MLP: `numeric`, float32 [rows, numerics],
standardised; `categorical`, int64 [rows, categoricals], vocabulary indices, 0 for other or missing)
and returns the raw outputs (class logits, or the standardised value). How to encode a row and read the
output — the input schema, the training statistics and vocabularies, the label names, the target's
mean and std — is the package config, stored in the model's metadata as `aisystem.config` (JSON)."""

from __future__ import annotations

import io
import json
import warnings

import torch

from backend.core.errors import AISystemError
from backend.ml import packaging

EXPORTABLE = ("tabular_mlp",)


class _Tabular(torch.nn.Module):
    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.module((numeric, categorical))


def export(loaded: packaging.LoadedModel) -> bytes:
    import onnx

    config = loaded.config
    if config["family"] not in EXPORTABLE:
        raise AISystemError("ENDPOINT_002", f"ONNX export covers tabular models; this is a {config['family']} model",
                            {"family": config["family"]})
    pre = config["preprocessing"]
    numeric = torch.zeros(2, len(pre["numeric"]), dtype=torch.float32)
    categorical = torch.zeros(2, len(pre["categorical"]), dtype=torch.int64)
    buffer = io.BytesIO()
    wrapper = _Tabular(loaded.module).eval()
    # The TorchScript-based exporter on purpose (the dynamo one needs onnxscript); its deprecation notice
    # and the tracer's note on the MLP's "no inputs" branch (a constant for a given model) are expected.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(wrapper, (numeric, categorical), buffer, input_names=["numeric", "categorical"],
                          output_names=["output"], dynamic_axes={"numeric": {0: "rows"}, "categorical": {0: "rows"},
                                                                 "output": {0: "rows"}},
                          opset_version=17, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = "aisystem.config", json.dumps(config)
    return model.SerializeToString()
