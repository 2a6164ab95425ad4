"""Field-report photos: magic-byte types, metadata stripped, people blurred by a detector."""

from __future__ import annotations

import io

import numpy as np
import pytest
from optional_parts import missing
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


def require_opencv() -> None:
    try:
        import cv2  # noqa: F401
    except ImportError:
        message = "OpenCV is not installed (pip install 'crossings[people]'): no 'hog' detector"
        missing(message, "CROSSINGS_REQUIRE_PEOPLE_DETECTOR")


def drawn_person(cx=200, top=40, height=140, seed=5) -> tuple[bytes, tuple[int, int, int, int]]:
    """A dark standing figure on a sandy, noisy background; returns the PNG and its box."""
    from PIL import ImageDraw

    image = Image.new("RGB", (400, 300), (190, 180, 160))
    draw, u = ImageDraw.Draw(image), height / 8
    fill = (40, 40, 40)
    draw.ellipse([cx - 0.5 * u, top, cx + 0.5 * u, top + 1.1 * u], fill=fill)
    draw.rectangle([cx - 0.25 * u, top + u, cx + 0.25 * u, top + 1.5 * u], fill=fill)
    body = [(-1.1, 1.4), (1.1, 1.4), (0.9, 4.3), (-0.9, 4.3)]
    arm = [(-1.1, 1.5), (-1.5, 4.2), (-1.1, 4.3), (-0.8, 2)]
    leg = [(-0.9, 4.3), (-0.05, 4.3), (-0.3, 8), (-0.95, 8)]
    mirrored = [[(-dx, dy) for dx, dy in side] for side in (arm, leg)]
    for shape in (body, arm, leg, *mirrored):
        draw.polygon([(cx + dx * u, top + dy * u) for dx, dy in shape], fill=fill)
    pixels = np.asarray(image, dtype=float)
    pixels += np.random.default_rng(seed).normal(0, 4, pixels.shape)
    out = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, format="PNG")
    box = (int(cx - 1.5 * u), top, int(cx + 1.5 * u), int(top + 8 * u))
    return out.getvalue(), box


def edge_strength(pixels: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    grey = pixels[y0:y1, x0:x1].mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_the_hog_detector_finds_a_drawn_person_and_it_is_blurred():
    require_opencv()
    from crossings.service.people import people_detector

    photo, box = drawn_person()
    detector = people_detector("hog")
    found = detector(Image.open(io.BytesIO(photo)).convert("RGB"))
    assert len(found) == 1
    x0, y0, x1, y1 = found[0]
    assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]  # the whole figure
    cleaned, _, blurred = clean_photo(photo, detector)
    assert blurred == 1
    before = np.asarray(Image.open(io.BytesIO(photo)), dtype=float)
    after = np.asarray(Image.open(io.BytesIO(cleaned)), dtype=float)
    assert edge_strength(after, box) < edge_strength(before, box) / 3


def test_the_hog_detector_finds_nobody_in_an_empty_landscape():
    require_opencv()
    from crossings.service.people import people_detector

    rows = np.linspace(120, 220, 300)[:, None, None] * np.ones((300, 400, 3))
    image = Image.fromarray(rows.astype(np.uint8))
    assert people_detector("hog")(image) == []
    with pytest.raises(ConfigError, match="must be one of hog"):
        people_detector("yolo")


def test_the_service_blurs_people_in_report_photos(tmp_path):
    require_opencv()
    from service_support import make_world

    from crossings.service.models import FieldReport

    world = make_world(
        f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "run", people_detector="hog"
    )
    try:
        photo, box = drawn_person()
        form = {
            "client_id": "people-0001",
            "kind": "observation",
            "species": "saiga",
            "count": "1",
            "observed_at": "2025-05-01T06:00:00Z",
            "lon": "56.2",
            "lat": "44.1",
            "country": "KAZ",
        }
        reply = world.client.post(
            "/api/reports",
            data=form,
            files={"photo": ("p.png", photo, "image/png")},
            headers=world.headers("scientist_kaz"),
        )
        assert reply.status_code == 201, reply.text
        with world.factory() as session:
            stored = session.get(FieldReport, reply.json()["id"])
            assert (stored.photo_screened, stored.people_blurred) == (True, 1)
            after = np.asarray(Image.open(io.BytesIO(stored.photo)), dtype=float)
        before = np.asarray(Image.open(io.BytesIO(photo)), dtype=float)
        assert edge_strength(after, box) < edge_strength(before, box) / 3
    finally:
        world.close()
