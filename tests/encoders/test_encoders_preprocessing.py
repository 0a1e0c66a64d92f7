"""Tokenisation and image pre-processing: truncation, limits and per-item errors."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from encoders.errors import InvalidItemError
from encoders.image_preprocessing import ImagePreprocessor
from encoders.tokenization import EMPTY_TEXT_ERROR, TextTokenizer


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb would look like this)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )


def _encode(fmt: str, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_long_text_is_truncated_to_max_tokens_not_rejected():
    tokens = TextTokenizer(max_tokens=256)(["word " * 2000, "short text"])
    assert tokens.errors == [None, None]
    assert tokens.input_ids.shape == (2, 256)
    assert tokens.attention_mask[0].sum() == 256 and tokens.attention_mask[1].sum() == 4


def test_fixed_padding_for_engines_with_fixed_sequence_length():
    tokens = TextTokenizer(max_tokens=64)(["a b"], pad_to=64)
    assert tokens.input_ids.shape == (1, 64)
    assert TextTokenizer(max_tokens=64)(["a b"]).input_ids.shape == (1, 4)  # padding setting restored


def test_empty_and_non_string_texts_get_their_own_error():
    tokens = TextTokenizer()(["ok", "   ", 42])
    assert tokens.errors[0] is None
    assert tokens.errors[1] == EMPTY_TEXT_ERROR
    assert "expected a string, got int" in tokens.errors[2]


def test_image_is_resized_and_normalised_to_minus_one_one():
    pixels = ImagePreprocessor(size=224).preprocess_one(_encode("PNG"))
    assert pixels.shape == (3, 224, 224) and pixels.dtype == np.float32
    expected = (np.array([10, 200, 30], np.float32) - 127.5) / 127.5
    np.testing.assert_allclose(pixels[:, 100, 100], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty payload"),
        (b"\xff\xd8\xff\xe0 definitely not a jpeg body", "not a decodable JPEG or PNG"),
        (_encode("GIF"), "unsupported format GIF"),
        (_encode("BMP"), "unsupported format BMP"),
        (_encode("JPEG", (400, 300))[:1200], "corrupt or truncated JPEG"),
        (_png_header_only(8_000, 8_000), "8000x8000 = 64000000 pixels exceeds the limit"),
        (_png_header_only(30_000, 30_000), "decompression bomb refused"),
        ("not bytes", "expected bytes, got str"),
    ],
    ids=["empty", "garbage", "gif", "bmp", "truncated", "too-many-pixels", "bomb", "not-bytes"],
)
def test_bad_images_get_a_clear_error(payload, message):
    with pytest.raises(InvalidItemError, match=message):
        ImagePreprocessor(max_pixels=40_000_000).preprocess_one(payload)


def test_byte_limit_is_checked_before_decoding():
    with pytest.raises(InvalidItemError, match=r"bytes exceeds the limit of 100 bytes"):
        ImagePreprocessor(max_bytes=100).preprocess_one(_encode("PNG", (300, 300)))


def test_one_bad_image_never_fails_the_rest(synthetic_images):
    pre = ImagePreprocessor()
    batch = pre([synthetic_images[0], b"garbage", synthetic_images[1]])
    assert batch.errors[0] is None and batch.errors[2] is None and "garbage" not in (batch.errors[1] or "")
    assert batch.errors[1] is not None
    np.testing.assert_array_equal(batch.pixels[1], 0)
    np.testing.assert_array_equal(batch.pixels[2], pre.preprocess_one(synthetic_images[1]))


def test_bad_items_in_a_batch_keep_zero_rows_and_others_are_exact(inprocess, synthetic_images):
    mixed = inprocess.embed_images([synthetic_images[0], synthetic_images[1][:100], synthetic_images[2]])
    alone = inprocess.embed_images([synthetic_images[0], synthetic_images[2]])
    assert mixed.errors[1] is not None and mixed.ok.tolist() == [True, False, True]
    np.testing.assert_array_equal(mixed.vectors[1], 0)
    assert np.abs(mixed.vectors[[0, 2]] - alone.vectors).max() < 1e-5
    texts = inprocess.embed_texts(["Heat", "", "Casino"])
    assert texts.errors == [None, EMPTY_TEXT_ERROR, None]
    np.testing.assert_array_equal(texts.vectors[1], 0)
