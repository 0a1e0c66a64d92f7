"""Helpers shared by the python-backend models."""

from __future__ import annotations

import json

import numpy as np


def model_parameters(args: dict) -> dict[str, str]:
    """The ``parameters`` of the model's config.pbtxt as plain strings."""
    config = json.loads(args["model_config"])
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def error_tensor(errors: list[str | None]) -> np.ndarray:
    """Per-item error strings as a Triton BYTES tensor [n, 1] (empty string = no error)."""
    return np.array([[(e or "").encode("utf-8")] for e in errors], dtype=np.object_)
