"""Optimisation profiles (min/opt/max shapes per input) for the encoder engines."""

from __future__ import annotations

from dataclasses import dataclass

from encoders.names import IMAGE_INPUT, TEXT_INPUTS
from encoders.tensorrt.settings import TensorRTSettings

Shape = tuple[int, ...]


@dataclass(frozen=True)
class InputProfile:
    """Shapes TensorRT tunes for (``opt``) and accepts (``min`` .. ``max``) for one input tensor."""

    name: str
    min: Shape
    opt: Shape
    max: Shape


def _ordered(label: str, low: int, mid: int, high: int) -> None:
    if not low <= mid <= high:
        raise ValueError(f"{label}: need min <= opt <= max, got {low} / {mid} / {high}")


def text_profile(settings: TensorRTSettings) -> list[InputProfile]:
    """input_ids and attention_mask: [batch, seq] with dynamic batch and sequence length."""
    s = settings
    _ordered("batch", s.min_batch, s.opt_batch, s.max_batch)
    _ordered("seq", s.min_seq, s.opt_seq, s.max_seq)
    shapes = ((s.min_batch, s.min_seq), (s.opt_batch, s.opt_seq), (s.max_batch, s.max_seq))
    return [InputProfile(name, *shapes) for name in TEXT_INPUTS]


def image_profile(settings: TensorRTSettings) -> list[InputProfile]:
    """pixels: [batch, 3, size, size] with dynamic batch."""
    s = settings
    _ordered("batch", s.min_batch, s.opt_batch, s.max_batch)
    chw = (3, s.image_size, s.image_size)
    return [InputProfile(IMAGE_INPUT, (s.min_batch, *chw), (s.opt_batch, *chw), (s.max_batch, *chw))]


def profile_for(model: str, settings: TensorRTSettings) -> list[InputProfile]:
    """The profile of ``text`` or ``image``."""
    if model == "text":
        return text_profile(settings)
    if model == "image":
        return image_profile(settings)
    raise ValueError(f"model: expected 'text' or 'image', got {model!r}")
