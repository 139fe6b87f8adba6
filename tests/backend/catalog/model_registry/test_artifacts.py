"""What the registry reads from an artifact: parameters counted as the framework counts them (real torch
models saved as safetensors), ONNX inputs, outputs, opset and initializers (files built with onnx.helper
and exported by torch), and files of unknown formats, refused unless declared opaque."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save as save_torch

from backend.audit import service as audit
from backend.catalog.model_registry import artifacts, service
from backend.catalog.model_registry.schemas import ModelUpdate, VersionCreate
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from tests.backend.catalog.model_registry.conftest import add_version

CONFIG = {"arch": "bn-mlp", "hidden": 16}


def bn_mlp() -> torch.nn.Module:
    """BatchNorm1d then Linear: a state dict with running statistics and a batch counter beside the
    parameters. A forward pass in training mode moves the statistics off their initial values."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 4), torch.nn.ReLU(),
                                torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    model.train()
    model(torch.randn(8, 16))
    return model.eval()


def torch_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def stored(model_id: str, actor, version: str, data: bytes, *, file_name: str, declared: str | None = None):  # noqa: ANN001
    with session_scope() as s:
        service.create_version(session=s, actor=actor, model_id=model_id,
                               data=VersionCreate(version=version, metrics={"accuracy": 0.9}))
    with session_scope() as s:
        row = service.store_artifact(session=s, actor=actor, model_id=model_id, version=version, chunks=[data],
                                     file_name=file_name, declared_format=declared)
        return service.read_version(session=s, version=row)


# --- 1. parameters as the framework counts them ---------------------------------------------------------


def test_a_torch_model_saved_as_safetensors_counts_what_torch_counts(make_model, engineer):
    model = bn_mlp()
    state = model.state_dict()
    every_tensor = sum(t.numel() for t in state.values())
    assert torch_parameters(model) < every_tensor  # the running statistics are in the file
    data = save_torch(state, metadata={"config": json.dumps(CONFIG)})
    model_id = make_model("BN classifier", parameters=every_tensor)  # the catalog declared the naive sum
    read = stored(model_id, engineer, "1.0.0", data, file_name="model.safetensors")
    art = read.artifact
    assert art.parameters == torch_parameters(model) == art.details["parameters"]
    assert art.details["tensorElements"] == every_tensor
    buffers = art.details["buffers"]
    assert buffers["elements"] == every_tensor - torch_parameters(model)
    assert set(buffers["names"]) == {n for n, _ in model.named_buffers()}
    assert art.declared_parameters == every_tensor  # shown beside the counted one: they differ
    assert art.handling == "inspected" and art.notice is None


def test_the_declared_count_is_left_out_when_it_agrees(make_model, engineer):
    model = bn_mlp()
    model_id = make_model("Agreeing classifier", parameters=torch_parameters(model))
    read = stored(model_id, engineer, "1.0.0", save_torch(model.state_dict(), metadata={"config": "{}"}),
                  file_name="model.safetensors")
    assert read.artifact.parameters == torch_parameters(model) and read.artifact.declared_parameters is None
    with session_scope() as s:  # the model's declared count is read when the version is
        service.update_model(session=s, actor=engineer, model_id=model_id,
                             data=ModelUpdate(parameters=1_000))
    with session_scope(write=False) as s:
        row = service.get_version(session=s, actor=engineer, model_id=model_id, version="1.0.0")
        assert service.read_version(session=s, version=row).artifact.declared_parameters == 1_000


@pytest.mark.parametrize("name,shape,buffer", [
    ("features.0.running_mean", [16], True), ("bn.running_var", [16], True), ("bn.num_batches_tracked", [], True),
    ("batch_normalization/moving_mean:0", [8], True), ("embeddings.position_ids", [1, 512], True),
    ("layers.0.self_attn.rotary_emb.inv_freq", [64], True), ("h.0.attn.bias", [1, 1, 1024, 1024], True),
    ("h.0.attn.bias", [768], False), ("h.0.attn.c_attn.bias", [2304], False), ("bn.weight", [16], False),
    ("classifier.bias", [2], False), ("running_mean_head.weight", [4, 4], False),
])
def test_buffers_are_told_apart_by_the_names_frameworks_give_them(name, shape, buffer):
    assert artifacts.is_buffer(name, shape) is buffer


def test_a_gpt2_style_state_dict_leaves_out_its_causal_masks(tmp_path):
    """Older GPT-2 checkpoints save each block's causal mask as `attn.bias` (and `attn.masked_bias`)."""
    from safetensors.numpy import save_file

    tensors = {"h.0.attn.c_attn.weight": np.zeros((8, 24), np.float32), "h.0.attn.c_attn.bias": np.zeros(24, np.float32),
               "h.0.attn.bias": np.ones((1, 1, 16, 16), np.float32), "h.0.attn.masked_bias": np.zeros((), np.float32)}
    path = tmp_path / "gpt2.safetensors"
    save_file(tensors, str(path))
    details = artifacts.safetensors_details(path, path.stat().st_size)
    assert details["parameters"] == 8 * 24 + 24
    assert details["buffers"] == {"tensors": 2, "elements": 257, "names": ["h.0.attn.bias", "h.0.attn.masked_bias"]}


# --- 2. ONNX ---------------------------------------------------------------------------------------------


def classifier_onnx() -> bytes:
    """A small image classifier built with onnx.helper: Flatten, then Gemm, with a symbolic batch size."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((10, 3 * 8 * 8)).astype(np.float32), "fc.weight")
    bias = numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")
    stats = numpy_helper.from_array(np.zeros(3, np.float32), "bn.running_mean")  # a buffer, if unused
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)],
        "tiny_classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[weight, bias, stats],
    )
    model = helper.make_model(graph, producer_name="pytest-onnx", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_onnx_details_name_inputs_outputs_opset_and_initializers(make_model, engineer):
    model_id = make_model("Tiny classifier", parameters=10 * 192 + 10)
    art = stored(model_id, engineer, "1.0.0", classifier_onnx(), file_name="classifier.onnx").artifact
    d = art.details
    assert art.format == "onnx" and (d["opset"], d["irVersion"], d["producer"]) == (17, 8, "pytest-onnx")
    assert d["inputs"] == [{"name": "pixels", "type": "tensor", "dtype": "float", "shape": ["batch", 3, 8, 8]}]
    assert d["outputs"] == [{"name": "logits", "type": "tensor", "dtype": "float", "shape": ["batch", 10]}]
    assert d["initializerNames"] == ["fc.weight", "fc.bias", "bn.running_mean"] and d["initializers"] == 3
    assert art.parameters == 10 * 192 + 10 and d["tensorElements"] == 10 * 192 + 10 + 3
    assert art.declared_parameters is None and d["nodes"] == 2 and d["graph"] == "tiny_classifier"


def test_an_onnx_model_exported_by_torch(tmp_path):
    model = bn_mlp()
    buffer = io.BytesIO()
    try:
        torch.onnx.export(model, (torch.zeros(1, 16),), buffer, input_names=["features"], output_names=["scores"],
                          dynamic_axes={"features": {0: "batch"}, "scores": {0: "batch"}}, dynamo=False)
    except Exception as exc:  # the TorchScript exporter may be gone from a later torch
        pytest.skip(f"torch.onnx.export is not available offline: {exc}")
    path = tmp_path / "exported.onnx"
    path.write_bytes(buffer.getvalue())
    details = artifacts.onnx_details(path, path.stat().st_size)
    assert [(v["name"], v["shape"]) for v in details["inputs"]] == [("features", ["batch", 16])]
    assert [(v["name"], v["shape"]) for v in details["outputs"]] == [("scores", ["batch", 2])]
    exported = onnx.load_model_from_string(buffer.getvalue())
    assert details["initializerNames"] == [t.name for t in exported.graph.initializer]
    assert details["parameters"] == sum(int(np.prod(t.dims)) for t in exported.graph.initializer
                                        if not artifacts.is_buffer(t.name, list(t.dims)))
    assert details["opset"] == next(o.version for o in exported.opset_import if o.domain in ("", "ai.onnx"))


def test_onnx_is_read_without_its_weights_in_memory(tmp_path):
    """The skeleton handed to the onnx package leaves out the initializers' values (4 MB here)."""
    weight = numpy_helper.from_array(np.ones((1000, 1000), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1000])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])], initializer=[weight])
    path = tmp_path / "big.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert path.stat().st_size > 4_000_000
    assert len(artifacts.onnx_skeleton(path, path.stat().st_size)) < 2_000
    assert artifacts.onnx_details(path, path.stat().st_size)["parameters"] == 1_000_000


def test_an_onnx_file_whose_graph_does_not_parse_is_refused(tmp_path):
    good = onnx.load_model_from_string(classifier_onnx())
    good.ClearField("graph")
    broken = good.SerializeToString() + b"\x3a\x03\xff\xff\xff"  # field 7 (graph) holding no protobuf
    path = tmp_path / "broken.onnx"
    path.write_bytes(broken)
    with pytest.raises(AISystemError) as excinfo:
        artifacts.onnx_details(path, len(broken))
    assert excinfo.value.code == "MODEL_004" and "ONNX" in excinfo.value.message


# --- 3. unknown formats and opaque files -------------------------------------------------------------------


@pytest.mark.parametrize("head,words", [
    (b"GGUF\x03\x00\x00\x00", "a GGUF file (llama.cpp weights)"), (b"\x89HDF\r\n\x1a\nrest", "an HDF5 file (e.g. Keras .h5)"),
    (b"\x1c\x00\x00\x00TFL3rest", "a TensorFlow Lite model"), (b"weights,bias\n1,2\n", "plain text"),
    (b'{"weights": [1, 2]}', "JSON text"), (bytes(range(256)), "binary data of no known model format"),
])
def test_unknown_files_are_described_in_words(head, words):
    assert artifacts.describe(head) == words


def test_an_unknown_format_is_refused_unless_declared_opaque(make_model, engineer):
    model_id = make_model("External GGUF model")
    gguf = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 8
    with session_scope() as s:
        service.create_version(session=s, actor=engineer, model_id=model_id,
                               data=VersionCreate(version="1.0.0"))
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.store_artifact(session=s, actor=engineer, model_id=model_id, version="1.0.0", chunks=[gguf],
                               file_name="model.gguf")
    assert excinfo.value.code == "MODEL_004"
    assert excinfo.value.details["found"] == "a GGUF file (llama.cpp weights)"
    assert "format=opaque" in excinfo.value.message
    with session_scope() as s:
        row = service.store_artifact(session=s, actor=engineer, model_id=model_id, version="1.0.0", chunks=[gguf],
                                     file_name="model.gguf", declared_format="opaque")
        art = service.read_version(session=s, version=row).artifact
    assert art.format == "opaque" and art.handling == "opaque" and "never loaded" in art.notice
    assert art.parameters is None and art.declared_parameters is None
    assert art.details == {"detected": None, "found": "a GGUF file (llama.cpp weights)", "loaded": False}
    assert art.size_bytes == len(gguf) and art.sha256 == hashlib.sha256(gguf).hexdigest()


def test_a_recognised_file_declared_opaque_is_kept_opaque(make_model, engineer):
    """The declaration wins (the file is never loaded), and the details say what it looked like."""
    model_id = make_model("Opaque safetensors")
    add_version(model_id, engineer, "1.0.0", artifact=False)
    data = save_torch(bn_mlp().state_dict(), metadata={"config": "{}"})
    with session_scope() as s:
        row = service.store_artifact(session=s, actor=engineer, model_id=model_id, version="1.0.0", chunks=[data],
                                     file_name="weights.bin", declared_format="opaque")
        art = service.read_version(session=s, version=row).artifact
    assert art.handling == "opaque" and art.parameters is None
    assert (art.details["detected"], art.details["found"]) == ("safetensors", "safetensors weights")


def test_a_count_recorded_before_buffers_were_told_apart_is_not_shown(make_model, engineer):
    """Details written by the earlier check summed every tensor; the version says so instead of showing it."""
    model_id = make_model("Legacy upload")
    add_version(model_id, engineer, "1.0.0")
    with session_scope() as s:
        row = service.find_version(session=s, model_id=model_id, version="1.0.0")
        row.artifact_details = {"tensors": 2, "parameters": 72, "dtypes": ["F32"], "headerBytes": 128}
        s.add(row)
        audit.record(session=s, actor=engineer, action="test.legacy", entity_type="model", entity_id=model_id)
    with session_scope(write=False) as s:
        art = service.read_version(session=s, version=service.find_version(session=s, model_id=model_id,
                                                                            version="1.0.0")).artifact
    assert art.parameters is None and art.declared_parameters is None and "Upload it again" in art.notice
