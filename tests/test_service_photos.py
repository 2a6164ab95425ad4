"""Field-report photos: magic-byte types, metadata stripped, people blurred by a detector."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the service extra is not installed")

from crossings.errors import ConfigError  # noqa: E402
from crossings.service.photos import clean_photo, sniff_image_type  # noqa: E402


def noisy_png(seed=3) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_a_configured_detector_blurs_the_people_it_finds():
    box = (10, 10, 50, 60)
    cleaned, mime, blurred = clean_photo(noisy_png(), people_detector=lambda image: [box])
    assert (mime, blurred) == ("image/jpeg", 1)
    pixels = np.asarray(Image.open(io.BytesIO(cleaned)), dtype=float)
    inside = pixels[box[1] + 5 : box[3] - 5, box[0] + 5 : box[2] - 5]
    outside = pixels[10:60, 70:110]
    assert inside.std() < outside.std() / 3  # the person's box is blurred, the rest is not


def test_without_a_detector_nothing_is_blurred_but_metadata_is_dropped():
    cleaned, _, blurred = clean_photo(noisy_png())
    assert blurred == 0
    assert not Image.open(io.BytesIO(cleaned)).getexif()


@pytest.mark.parametrize("head", [b"GIF89a", b"%PDF-1.7", b"PK\x03\x04", b"\x00\x00\x00\x18ftyp"])
def test_other_types_are_refused_by_their_first_bytes(head):
    assert sniff_image_type(head + bytes(16)) is None
    with pytest.raises(ConfigError, match="not a JPEG, PNG or WebP"):
        clean_photo(head + bytes(100))
