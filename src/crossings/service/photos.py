"""Field-report photos: type by magic bytes, EXIF (GPS included) stripped, people blurred."""

from __future__ import annotations

import io

from crossings.errors import ConfigError

__all__ = ["sniff_image_type", "clean_photo"]

_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes announce (JPEG, PNG, WebP), or ``None``.

    >>> sniff_image_type(b"\\x89PNG\\r\\n\\x1a\\n....")
    'image/png'
    >>> sniff_image_type(b"<html>") is None
    True
    """
    for magic, mime in _MAGIC.items():
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_photo(data: bytes, people_detector=None) -> tuple[bytes, str, int]:
    """Re-encode the photo without any metadata; blur people where a detector is given.

    Returns the new bytes, their MIME type and the number of people blurred. Raises
    :class:`ConfigError` if the bytes are not an image Pillow can decode.
    """
    from PIL import Image, ImageFilter, UnidentifiedImageError

    mime = sniff_image_type(data[:16])
    if mime is None:
        raise ConfigError(
            "is not a JPEG, PNG or WebP image (checked by its first bytes)", field="photo"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            # Re-encoding from pixels drops EXIF (GPS, camera serial), XMP and comments.
            clean = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ConfigError(f"could not be decoded as an image ({error})", field="photo") from None
    boxes = list(people_detector(clean)) if people_detector else []
    for box in boxes:
        x0, y0, x1, y1 = (int(v) for v in box)
        region = clean.crop((x0, y0, x1, y1)).filter(ImageFilter.GaussianBlur(radius=24))
        clean.paste(region, (x0, y0))
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg", len(boxes)
