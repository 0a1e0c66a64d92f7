"""EfficientNet-Lite0 (ImageNet weights) as a 1280-d global-average-pooled feature extractor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from encoders.names import IMAGE_DIM
from encoders.weights import efficientnet_lite0_weights

__all__ = ["IMAGE_DIM", "EfficientNetLite0Features", "efficientnet_lite0_weights", "load_image_model"]

MODEL_NAME = "efficientnet-lite0"


class EfficientNetLite0Features(nn.Module):
    """pixels float32 (B, 3, 224, 224), already normalised as (x - 127.5) / 127.5 -> features (B, 1280)."""

    backbone: Any  # an efficientnet_lite_pytorch.EfficientNet (untyped library)

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.backbone.extract_features(pixels).mean(dim=(2, 3))


def load_image_model(weights: Path | None = None) -> EfficientNetLite0Features:
    """Build EfficientNet-Lite0, load the pretrained weights and wrap it as a feature extractor (eval, CPU)."""
    from efficientnet_lite_pytorch import EfficientNet

    backbone = EfficientNet.from_name(MODEL_NAME)
    state = torch.load(weights or efficientnet_lite0_weights(), map_location="cpu", weights_only=True)
    backbone.load_state_dict(state, strict=True)
    return EfficientNetLite0Features(backbone).eval()
