"""`image_cnn`: a small convolutional network for image classification.

An image dataset stores one row per image (`path`, `label`, `width`, `height`, `mode`, `bytes`: the PNG
or JPEG file itself; see `backend.catalog.datasets.ingest`). Images are decoded with Pillow, converted
to grayscale or RGB (grayscale when every training image is), resized to `imageSize` (by default the
median size of the training images), and normalised per channel with the TRAINING split's mean and
standard deviation, stored in the config. Each block is conv 3x3, batch norm, ReLU and a 2x2 max-pool
while the feature map is larger than 1; then an adaptive average pool, the hidden layers and the head.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import polars as pl
import torch
from pydantic import Field
from torch import nn

from backend.catalog.datasets import media
from backend.core.errors import AISystemError
from backend.ml.base import Encoded, Family
from backend.ml.families import register_family
from backend.ml.hyperparameters import BaseHyperparameters, invalid
from backend.ml.modules import SupervisedModule, mlp

IMAGE_COLUMN = "bytes"
MAX_PIXELS = media.MAX_PIXELS  # the same bound the datasets ingest holds images to
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}
Channels = Annotated[int, Field(ge=1, le=512)]
Hidden = Annotated[int, Field(ge=1, le=4096)]


class ImageHyperparameters(BaseHyperparameters):
    channels: list[Channels] = Field(default=[16, 32], min_length=1, max_length=6,
                                     description="Output channels of each convolution block")
    hidden_sizes: list[Hidden] = Field(default=[64], max_length=4)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    image_size: int | None = Field(default=None, ge=4, le=512,
                                   description="Side images are resized to; empty: the training images' median")
    color_mode: Literal["auto", "grayscale", "rgb"] = "auto"


def decode(data: bytes, *, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (channels, size, size); ValueError when it is not a readable PNG or JPEG."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise ValueError(f"{image.format} images are not supported")
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"the image is larger than {MAX_PIXELS} pixels")
            image.draft("L" if channels == 1 else "RGB", (size, size))  # JPEG: decode at a reduced scale
            converted = image.convert("L" if channels == 1 else "RGB")
            if converted.size != (size, size):
                converted = converted.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.uint8)
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(str(exc)[:200]) from exc
    return pixels[None, :, :] if channels == 1 else pixels.transpose(2, 0, 1)


def _decode_all(values: list[bytes | None], *, size: int, channels: int, training: bool) -> np.ndarray:
    out = np.zeros((len(values), channels, size, size), dtype=np.uint8)
    for i, data in enumerate(values):
        try:
            if data is None:
                raise ValueError("no image")
            out[i] = decode(data, size=size, channels=channels)
        except ValueError as exc:
            if training:
                raise AISystemError("DATA_002", f"Image {i} of the split could not be decoded: {exc}",
                                    {"row": i}) from None
            raise AISystemError("INFER_002", f"Image {i} could not be decoded: {exc}", {"row": i}) from None
    return out


class ImageEncoded(Encoded):
    def __init__(self, pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
        self.pixels, self.mean, self.std = pixels, mean, std

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def take(self, indices: torch.Tensor) -> torch.Tensor:
        return (self.pixels[indices].float() / 255.0 - self.mean) / self.std


class SmallCNN(SupervisedModule):
    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        hp, image = self.hp, self.config["preprocessing"]["image"]
        size, channels = int(image["size"]), int(image["channels"])
        blocks: list[nn.Module] = []
        for out in hp["channels"]:
            blocks += [nn.Conv2d(channels, out, kernel_size=3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            if size > 1:
                blocks.append(nn.MaxPool2d(2))
                size //= 2
            channels = out
        pooled = min(max(size, 1), 2)
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        dropout = float(hp["dropout"])
        self.body, width = mlp(channels * pooled * pooled, list(hp["hiddenSizes"]), dropout=dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, self.output_size)) if dropout else \
            nn.Linear(width, self.output_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.features(inputs)))


@register_family
class ImageCNNFamily(Family):
    name = "image_cnn"
    title = "Small CNN"
    description = "A small convolutional network for image classification (PNG or JPEG images)."
    tasks = ("classification",)
    dataset_types = ("image",)
    hyperparameters = ImageHyperparameters

    def select_inputs(self, frame: pl.LazyFrame, *, label: str, requested: Sequence[str] | None,
                      hp: BaseHyperparameters) -> list[str]:
        schema = frame.collect_schema()
        if requested is not None:
            if len(requested) != 1 or requested[0] not in schema or schema[requested[0]] != pl.Binary:
                raise invalid("An image model reads one column of image bytes",
                              fields={"inputColumns": f"one binary column, such as '{IMAGE_COLUMN}'"})
            return [requested[0]]
        if schema.get(IMAGE_COLUMN) != pl.Binary:
            raise AISystemError("DATA_004", "The dataset has no image bytes to learn from",
                                {"reason": "no_inputs", "columns": list(schema)[:50]})
        return [IMAGE_COLUMN]

    def fit(self, train: pl.DataFrame, *, inputs: list[str], hp: BaseHyperparameters,
            task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        column = inputs[0]
        size = getattr(hp, "image_size", None)
        mode = getattr(hp, "color_mode", "auto")
        if size is None or mode == "auto":
            facts = [_header(b) for b in train[column].to_list() if b is not None]
            if size is None:
                sides = [max(w, h) for w, h, _m in facts] or [32]
                size = int(min(max(int(np.median(sides)), 4), 128))
            if mode == "auto":
                mode = "grayscale" if all(m in GRAYSCALE_MODES for _w, _h, m in facts) else "rgb"
        channels = 1 if mode == "grayscale" else 3
        pixels = _decode_all(train[column].to_list(), size=size, channels=channels, training=True)
        scaled = pixels.astype(np.float64) / 255.0
        mean = scaled.mean(axis=(0, 2, 3)).tolist()
        std = [s if s > 1e-6 else 1.0 for s in scaled.std(axis=(0, 2, 3)).tolist()]
        schema = {"columns": [{"name": column, "kind": "image", "formats": ["png", "jpeg"]}]}
        return schema, {"image": {"size": size, "channels": channels, "colorMode": mode, "mean": mean, "std": std}}

    def build_module(self, config: Mapping[str, Any], *, pretrained: bool = True) -> SmallCNN:
        return SmallCNN(config)

    def encode(self, config: Mapping[str, Any], frame: pl.DataFrame) -> ImageEncoded:
        image = config["preprocessing"]["image"]
        column = config["inputSchema"]["columns"][0]["name"]
        training = "label" in config and config["label"]["name"] in frame.columns
        pixels = _decode_all(frame[column].to_list(), size=int(image["size"]), channels=int(image["channels"]),
                             training=training)
        view = (1, int(image["channels"]), 1, 1)
        return ImageEncoded(torch.from_numpy(pixels), torch.tensor(image["mean"], dtype=torch.float32).view(view)[0],
                            torch.tensor(image["std"], dtype=torch.float32).view(view)[0])


def _header(data: bytes) -> tuple[int, int, str]:
    """(width, height, mode) from an image's header, without decoding its pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height, image.mode
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise AISystemError("DATA_002", f"An image of the training split could not be read: {str(exc)[:200]}") from None
